//! The `api-server` command line: `serve`, `worker`, `migrate`, `create-admin`, `openapi`.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::StartupError;
use crate::wiring;

/// Agora: backend for online debate platforms.
#[derive(Debug, Parser)]
#[command(name = "api-server", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve {
        /// Address to listen on (overrides `AGORA_BIND`, which the configuration reads
        /// and reports by name when malformed).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Run only the background-job worker, no HTTP (needs DATABASE_URL); stops on
    /// SIGTERM or SIGINT once its running jobs finish.
    Worker,
    /// Apply pending database migrations (needs DATABASE_URL).
    Migrate,
    /// Create the first administrator account (super_admin in the global scope).
    /// The password is read from standard input, or prompted for on a terminal.
    CreateAdmin {
        /// Username of the new account.
        #[arg(long)]
        username: String,
        /// E-mail of the new account.
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document.
    Openapi,
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
