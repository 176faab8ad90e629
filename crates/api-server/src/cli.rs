//! The `api-server` command line: `serve`, `worker`, `migrate`, `create-admin`, `openapi`.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigArgs};
use crate::startup::StartupError;
use crate::wiring;

/// Agora: backend for online debate platforms.
#[derive(Debug, Parser)]
#[command(
    name = "api-server",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The configuration of `serve` when no command is named.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve {
        /// Every setting; `--bind` overrides `AGORA_BIND` like any other.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Run only the background-job worker, no HTTP (needs DATABASE_URL); stops on
    /// SIGTERM or SIGINT once its running jobs finish.
    Worker {
        /// The same settings as `serve`.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Apply pending database migrations (needs DATABASE_URL).
    Migrate {
        /// The same settings as `serve`.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Create the first administrator account (super_admin in the global scope).
    /// The password is read from standard input, or prompted for on a terminal.
    CreateAdmin {
        /// Username of the new account.
        #[arg(long)]
        username: String,
        /// E-mail of the new account.
        #[arg(long)]
        email: String,
        /// The same settings as `serve`.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the OpenAPI document.
    Openapi,
}

impl Cli {
    /// Parses the command line and the environment. Variables set but empty count as
    /// unset; a malformed setting is reported as a [`crate::config::ConfigError`] naming
    /// its variable.
    ///
    /// # Errors
    /// Clap's own error for anything else (`--help`, `--version`, an unknown flag).
    pub fn parse_env() -> Result<Self, ParseError> {
        Self::parse_from_env(std::env::args_os())
    }

    /// [`Cli::parse_env`] with the given arguments (the first is the program name).
    ///
    /// # Errors
    /// As [`Cli::parse_env`].
    pub fn parse_from_env<I, T>(args: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let to_error = |e: clap::Error| match crate::config::config_error(&e) {
            Some(config) => ParseError::Config(config),
            None => ParseError::Clap(e),
        };
        let matches = crate::config::without_empty_env(Self::command())
            .try_get_matches_from(args)
            .map_err(to_error)?;
        Self::from_arg_matches(&matches).map_err(to_error)
    }
}

impl Command {
    /// The settings this command reads; `openapi` reads none, so it works whatever the
    /// environment holds.
    pub fn config_args(&self) -> Option<&ConfigArgs> {
        match self {
            Command::Serve { config }
            | Command::Worker { config }
            | Command::Migrate { config }
            | Command::CreateAdmin { config, .. } => Some(config),
            Command::Openapi => None,
        }
    }
}

/// Why the command line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A malformed setting, named by its variable.
    #[error(transparent)]
    Config(crate::config::ConfigError),
    /// Anything else, reported (or, for `--help`, printed) by clap.
    #[error(transparent)]
    Clap(clap::Error),
}

/// A command failure, already explained for the operator.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Startup / backend problem.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// Bad input.
    #[error("{0}")]
    Usage(String),
}

fn read_password() -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Password: ").map_err(|e| CliError::Usage(e.to_string()))?;
        let again = rpassword::prompt_password("Password (again): ")
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if first != again {
            return Err(CliError::Usage("the passwords do not match".into()));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Runs `create-admin`.
///
/// # Errors
/// When storage is not configured, the input is invalid or the account exists.
pub async fn create_admin(config: &Config, username: &str, email: &str) -> Result<(), CliError> {
    if config.database_url.is_none() {
        return Err(CliError::Usage(
            "create-admin needs DATABASE_URL: in embedded mode accounts live inside the server \
             process, so an account created here would vanish at once"
                .into(),
        ));
    }
    let password = read_password()?;
    let backends = wiring::build(config).await?;
    match backends.auth.create_admin(username, email, &password).await {
        Ok(user) => {
            println!(
                "created administrator {} ({})",
                user.username.as_str(),
                user.id
            );
            Ok(())
        }
        Err(domain_identity::IdentityError::Validation(fields)) => {
            let text: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            Err(CliError::Usage(text.join("; ")))
        }
        Err(e) => Err(CliError::Usage(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn serve_help() -> String {
        let mut cli = Cli::command();
        cli.build();
        let mut help = String::new();
        if let Some(serve) = cli.find_subcommand_mut("serve") {
            help = serve.render_long_help().to_string();
        }
        help
    }

    #[test]
    fn serve_help_lists_every_variable_with_its_meaning() {
        let help = serve_help();
        let vars: Vec<&str> = crate::config::variables().collect();
        assert!(
            vars.len() > 30,
            "the configuration has its variables: {vars:?}"
        );
        for var in &vars {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{var} missing:\n{help}"
            );
        }
        // each flag says what it is for, and every setting with a fixed default shows it
        let mut cli = Cli::command();
        cli.build();
        let serve = cli
            .find_subcommand("serve")
            .map(|c| c.get_arguments().collect::<Vec<_>>());
        for arg in serve
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a.get_env().is_some())
        {
            assert!(arg.get_help().is_some(), "{:?} has no help", arg.get_env());
        }
    }

    #[test]
    fn docs_list_the_variables_the_server_reads() {
        // README's table and .env.example are how operators meet the settings: a variable
        // the code reads and they omit (or one they document and the code ignores) drifts
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap_or_default();
        let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap_or_default();
        let vars: Vec<&str> = crate::config::variables().collect();
        for var in &vars {
            assert!(
                readme.contains(&format!("| `{var}`")) || readme.contains(&format!("/ `{var}`")),
                "README.md's configuration table lacks {var}"
            );
            assert!(
                example.contains(&format!("{var}=")),
                ".env.example lacks {var}"
            );
        }
        for line in example.lines() {
            let name = line
                .trim_start_matches(['#', ' '])
                .split('=')
                .next()
                .unwrap_or("");
            if line.contains('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                assert!(
                    vars.contains(&name),
                    ".env.example documents {name}, which nothing reads"
                );
            }
        }
    }

    #[test]
    fn help_never_shows_the_value_of_a_secret() {
        let mut cli = Cli::command();
        cli.build();
        let secrets = [
            "AGORA_JWT_SECRET",
            "DATABASE_URL",
            "REDIS_URL",
            "SMTP_URL",
            "AGORA_BOOTSTRAP_ADMIN_PASSWORD",
        ];
        let args: Vec<_> = cli
            .find_subcommand("serve")
            .map(|c| c.get_arguments().cloned().collect())
            .unwrap_or_default();
        for secret in secrets {
            let arg = args
                .iter()
                .find(|a| a.get_env().is_some_and(|e| e == secret));
            assert!(arg.is_some_and(|a| a.is_hide_env_values_set() && a.get_default_values().is_empty()), "{secret}");
        }
    }

    #[test]
    fn every_command_that_serves_reads_the_same_settings() {
        for command in ["serve", "worker", "migrate"] {
            let cli = Cli::parse_from_env(["api-server", command, "--db-pool-size", "3"]);
            let Ok(Cli {
                command: Some(c), ..
            }) = cli
            else {
                panic!("{command}")
            };
            let config = c.config_args().cloned().map(ConfigArgs::into_config);
            assert!(
                matches!(config, Some(Ok(ref c)) if c.db_pool_size == 3),
                "{command}"
            );
        }
        let e = Cli::parse_from_env(["api-server", "worker", "--db-pool-size", "many"]);
        assert!(
            matches!(e, Err(ParseError::Config(ref c)) if c.var == "AGORA_DB_POOL_SIZE"),
            "{e:?}"
        );
        assert!(matches!(
            Cli::parse_from_env(["api-server", "--nonsense"]),
            Err(ParseError::Clap(_))
        ));
    }
}
