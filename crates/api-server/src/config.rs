//! Configuration from the environment (and `.env`). Every variable is listed, with its
//! meaning, in `.env.example`; a bad value stops startup with a message naming it.

use std::net::SocketAddr;
use std::str::FromStr;

/// Deployment flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Friendly defaults: embedded storage allowed, generated signing key, readable logs.
    Development,
    /// Strict: PostgreSQL, Redis and a strong signing key are required; JSON logs.
    Production,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// The server's configuration.
#[derive(Clone)]
pub struct Config {
    /// `AGORA_ENV`.
    pub env: Environment,
    /// `AGORA_BIND`.
    pub bind: SocketAddr,
    /// `DATABASE_URL`; none selects the in-memory store.
    pub database_url: Option<String>,
    /// `REDIS_URL`; none selects in-process revocations and rate limits.
    pub redis_url: Option<String>,
    /// `AGORA_REDIS_PREFIX`: prefix of every Redis key.
    pub redis_prefix: String,
    /// `AGORA_JWT_SECRET`; none (development only) generates a per-process key.
    pub jwt_secret: Option<String>,
    /// `AGORA_JWT_ISSUER`.
    pub jwt_issuer: String,
    /// `AGORA_JWT_AUDIENCE`.
    pub jwt_audience: String,
    /// `AGORA_ACCESS_TOKEN_TTL` in seconds.
    pub access_ttl_secs: i64,
    /// `AGORA_REFRESH_TOKEN_TTL` in seconds.
    pub refresh_ttl_secs: i64,
    /// `AGORA_LOGIN_MAX_FAILURES`: per (account, client address) pair per window before
    /// that pair is locked.
    pub login_max_failures: u32,
    /// `AGORA_LOGIN_MAX_FAILURES_PER_CLIENT`: per client address per window, across
    /// accounts, from which it counts as credential stuffing.
    pub login_max_failures_per_client: u32,
    /// `AGORA_LOGIN_WINDOW_SECS`.
    pub login_window_secs: u64,
    /// `AGORA_LOGIN_LOCKOUT_MAX_SECS`: longest lockout of a pair (they double from 60 s).
    pub login_lockout_max_secs: u64,
    /// `AGORA_LOGIN_SLOW_AFTER`: failures of one account per window beyond which its
    /// failed answers are held back.
    pub login_slow_after: u32,
    /// `AGORA_LOGIN_ACCOUNT_CEILING`: failures of one account per window from which
    /// clients that failed on it are refused.
    pub login_account_ceiling: u32,
    /// `AGORA_LOGIN_MAX_DELAY_MS`: longest hold-back of a failed answer.
    pub login_max_delay_ms: u64,
    /// `AGORA_REGISTER_MAX_PER_CLIENT`: registrations per client address per window.
    pub register_max_per_client: u32,
    /// `AGORA_REGISTER_WINDOW_SECS`.
    pub register_window_secs: u64,
    /// `AGORA_DB_POOL_SIZE`.
    pub db_pool_size: u32,
    /// `AGORA_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a PostgreSQL connection
    /// before it is answered 503 (a database outage then costs each request this, not
    /// seconds).
    pub db_acquire_timeout_ms: u64,
    /// `AGORA_REDIS_ACQUIRE_TIMEOUT_MS`: the same for Redis connections.
    pub redis_acquire_timeout_ms: u64,
    /// `AGORA_AUTO_MIGRATE`: apply pending migrations when serving.
    pub auto_migrate: bool,
    /// `AGORA_TRUST_PROXY`: take the client address from `X-Forwarded-For`.
    pub trust_proxy: bool,
    /// `AGORA_ALLOWED_ORIGINS`: comma-separated origins (`https://app.example.org`, or
    /// `*`) whose pages may open real-time rooms, besides the server's own host and
    /// clients that send no `Origin`.
    pub allowed_origins: Vec<String>,
    /// `AGORA_ROOM_SEND_RATES`: how many arguments per second a connection may send into
    /// a debate room, by role (`role=rate/burst,…,*=rate/burst`).
    pub room_send_rates: crate::send_rate::SendRates,
    /// `AGORA_PRESENCE_TTL_SECS`: how long a room connection counts as present after its
    /// last heartbeat — how long a crashed instance's clients linger in presence.
    pub presence_ttl_secs: u64,
    /// `AGORA_WORKERS`: HTTP worker threads.
    pub workers: usize,
    /// `AGORA_SHUTDOWN_TIMEOUT` in seconds, for in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// `AGORA_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `RUST_LOG`: the log filter (`tracing_subscriber::EnvFilter` syntax).
    pub log_filter: String,
    /// `AGORA_WORKER` (`on`/`off`): run the background-job worker inside `serve`.
    /// `api-server worker` runs one regardless.
    pub worker_enabled: bool,
    /// `AGORA_WORKER_CONCURRENCY`: jobs a worker runs at the same time.
    pub worker_concurrency: u32,
    /// `AGORA_WORKER_POLL_MS`: how long an idle worker waits before looking for due jobs
    /// again. New jobs wake it at once (`WorkerConfig::wake`); this bounds jobs that
    /// become due by the clock and a wake-up lost with a connection. One claim is one
    /// indexed statement, so polling often is cheap.
    pub worker_poll_ms: u64,
    /// `SMTP_URL` (`smtp://host:port`, `smtps://user:pass@host`, or
    /// `smtp://…?tls=required` for STARTTLS); none logs e-mails instead of sending them.
    pub smtp_url: Option<String>,
    /// `AGORA_MAIL_FROM`: the sender of every e-mail.
    pub mail_from: String,
    /// `AGORA_BOOTSTRAP_ADMIN` (`username:email`) with `AGORA_BOOTSTRAP_ADMIN_PASSWORD`:
    /// create this super_admin at startup if no account has that username (for the
    /// embedded mode, where `create-admin` cannot reach the server's memory).
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

/// The first administrator, created at startup when configured.
#[derive(Clone)]
pub struct BootstrapAdmin {
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Password (never logged).
    pub password: String,
}

impl std::fmt::Debug for Config {
    // Secrets and URLs with passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("bind", &self.bind)
            .field("database", &self.database_url.as_ref().map(|_| "<set>"))
            .field("redis", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("smtp", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Smallest signing key accepted, in bytes (HS256 wants 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// Every setting as the command line sees it: one `--flag` per environment variable, so
/// `api-server serve --help` lists each variable with its default and meaning. Values
/// are parsed here; rules that span settings, and the secrets' schemes, are checked by
/// [`ConfigArgs::into_config`].
///
/// Secrets (and URLs that may carry a password) have `hide_env_values`: `--help` never
/// prints their current value, and they have no default to print.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Configuration (each flag also reads its environment variable)")]
pub struct ConfigArgs {
    /// `development` (friendly defaults) or `production` (strict: DATABASE_URL, REDIS_URL
    /// and a strong AGORA_JWT_SECRET required; JSON logs).
    #[arg(long = "env", env = "AGORA_ENV", default_value = "development", value_parser = environment, hide_possible_values = true)]
    pub env: Environment,
    /// Address to listen on.
    #[arg(long, env = "AGORA_BIND", default_value = "127.0.0.1:8080", value_parser = trimmed::<SocketAddr>)]
    pub bind: SocketAddr,
    /// PostgreSQL URL (postgres://…); unset: in-memory storage, lost on exit.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Redis URL (redis://, rediss:// or unix://); unset: revocations, rate limits and
    /// fan-out kept in process (one instance only).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, to share one Redis between deployments.
    #[arg(long, env = "AGORA_REDIS_PREFIX", default_value = "agora:")]
    pub redis_prefix: String,
    /// HS256 signing key, at least 32 bytes and random, shared by every instance; unset
    /// (development only): a random key per process. A weak key stops startup.
    #[arg(long, env = "AGORA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// `iss` claim of issued tokens.
    #[arg(long, env = "AGORA_JWT_ISSUER", default_value = "agora")]
    pub jwt_issuer: String,
    /// `aud` claim of issued tokens.
    #[arg(long, env = "AGORA_JWT_AUDIENCE", default_value = "agora-api")]
    pub jwt_audience: String,
    /// Access token lifetime, seconds (10–86400).
    #[arg(long = "access-token-ttl", env = "AGORA_ACCESS_TOKEN_TTL", default_value = "900", value_parser = trimmed::<i64>)]
    pub access_ttl_secs: i64,
    /// Login session (refresh token) lifetime, seconds; not shorter than the access token's.
    #[arg(long = "refresh-token-ttl", env = "AGORA_REFRESH_TOKEN_TTL", default_value = "1209600", value_parser = trimmed::<i64>)]
    pub refresh_ttl_secs: i64,
    /// Failed logins of one client address on one account per window before that pair
    /// (only) is refused.
    #[arg(long, env = "AGORA_LOGIN_MAX_FAILURES", default_value = "5", value_parser = trimmed::<u32>)]
    pub login_max_failures: u32,
    /// Failed logins of one client address across accounts per window from which it
    /// counts as credential stuffing.
    #[arg(long, env = "AGORA_LOGIN_MAX_FAILURES_PER_CLIENT", default_value = "30", value_parser = trimmed::<u32>)]
    pub login_max_failures_per_client: u32,
    /// Window failed logins are counted in, seconds.
    #[arg(long, env = "AGORA_LOGIN_WINDOW_SECS", default_value = "900", value_parser = trimmed::<u64>)]
    pub login_window_secs: u64,
    /// Longest lockout of an (account, client) pair, seconds; lockouts start at 60 s and
    /// double.
    #[arg(long, env = "AGORA_LOGIN_LOCKOUT_MAX_SECS", default_value = "3600", value_parser = trimmed::<u64>)]
    pub login_lockout_max_secs: u64,
    /// Failed logins of one account per window beyond which its failed answers are held
    /// back.
    #[arg(long, env = "AGORA_LOGIN_SLOW_AFTER", default_value = "10", value_parser = trimmed::<u32>)]
    pub login_slow_after: u32,
    /// Failed logins of one account per window from which clients that already failed on
    /// it are refused (others still sign in).
    #[arg(long, env = "AGORA_LOGIN_ACCOUNT_CEILING", default_value = "20", value_parser = trimmed::<u32>)]
    pub login_account_ceiling: u32,
    /// Longest hold-back of a failed login answer, milliseconds (0–30000; 0: none).
    #[arg(long, env = "AGORA_LOGIN_MAX_DELAY_MS", default_value = "2000", value_parser = trimmed::<u64>)]
    pub login_max_delay_ms: u64,
    /// Registrations (with valid input) per client address per window.
    #[arg(long, env = "AGORA_REGISTER_MAX_PER_CLIENT", default_value = "60", value_parser = trimmed::<u32>)]
    pub register_max_per_client: u32,
    /// Registration window, seconds.
    #[arg(long, env = "AGORA_REGISTER_WINDOW_SECS", default_value = "3600", value_parser = trimmed::<u64>)]
    pub register_window_secs: u64,
    /// PostgreSQL connections per instance.
    #[arg(long, env = "AGORA_DB_POOL_SIZE", default_value = "10", value_parser = trimmed::<u32>)]
    pub db_pool_size: u32,
    /// How long a request waits for a PostgreSQL connection before a 503, milliseconds
    /// (50–60000).
    #[arg(long, env = "AGORA_DB_ACQUIRE_TIMEOUT_MS", default_value = "1000", value_parser = trimmed::<u64>)]
    pub db_acquire_timeout_ms: u64,
    /// The same for Redis connections, milliseconds (50–60000).
    #[arg(long, env = "AGORA_REDIS_ACQUIRE_TIMEOUT_MS", default_value = "1000", value_parser = trimmed::<u64>)]
    pub redis_acquire_timeout_ms: u64,
    /// Apply pending migrations when `serve` starts.
    #[arg(long, env = "AGORA_AUTO_MIGRATE", default_value = "true", value_parser = flag, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,
    /// Take the client address from `X-Forwarded-For`.
    #[arg(long, env = "AGORA_TRUST_PROXY", default_value = "false", value_parser = flag, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// Comma-separated origins (`https://app.example.org`, or `*`) whose pages may open
    /// real-time rooms; requests without `Origin` and from the server's own host are
    /// always allowed.
    #[arg(long, env = "AGORA_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Arguments per second / burst a user may send into one debate session, by the
    /// sender's highest-ranked role (`*`: any other role).
    #[arg(long, env = "AGORA_ROOM_SEND_RATES", default_value = crate::send_rate::DEFAULT_SEND_RATES, value_parser = send_rates)]
    pub room_send_rates: crate::send_rate::SendRates,
    /// How long a room connection counts as present after its last heartbeat, seconds
    /// (3–3600).
    #[arg(long, env = "AGORA_PRESENCE_TTL_SECS", default_value = "30", value_parser = trimmed::<u64>)]
    pub presence_ttl_secs: u64,
    /// HTTP worker threads [default: the number of CPUs].
    #[arg(long, env = "AGORA_WORKERS", value_parser = trimmed::<usize>)]
    pub workers: Option<usize>,
    /// Seconds for in-flight requests on SIGTERM/SIGINT, and again for running jobs.
    #[arg(long = "shutdown-timeout", env = "AGORA_SHUTDOWN_TIMEOUT", default_value = "30", value_parser = trimmed::<u64>)]
    pub shutdown_timeout_secs: u64,
    /// Log output: `json` or `pretty` [default: pretty in development, json in production].
    #[arg(long, env = "AGORA_LOG_FORMAT", value_parser = log_format)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info,api_server=debug` (an unusable one falls back to `info`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
    /// Run the background-job worker inside `serve` (`off`: run `api-server worker`
    /// processes instead).
    #[arg(long = "worker", env = "AGORA_WORKER", default_value = "on", value_parser = flag, action = clap::ArgAction::Set)]
    pub worker_enabled: bool,
    /// Jobs one worker runs at the same time (1–256).
    #[arg(long, env = "AGORA_WORKER_CONCURRENCY", default_value = "4", value_parser = trimmed::<u32>)]
    pub worker_concurrency: u32,
    /// How long an idle worker waits before looking for due jobs again, milliseconds
    /// (10–60000); new jobs wake it at once.
    #[arg(long, env = "AGORA_WORKER_POLL_MS", default_value = "250", value_parser = trimmed::<u64>)]
    pub worker_poll_ms: u64,
    /// SMTP server (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host:465`); unset: e-mails are logged, not sent.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of every e-mail.
    #[arg(
        long,
        env = "AGORA_MAIL_FROM",
        default_value = "Agora <no-reply@localhost>"
    )]
    pub mail_from: String,
    /// `username:email` of a super_admin created at startup if no account has that
    /// username (embedded mode, where `create-admin` cannot reach the server's memory).
    #[arg(long, env = "AGORA_BOOTSTRAP_ADMIN")]
    pub bootstrap_admin: Option<String>,
    /// Password of AGORA_BOOTSTRAP_ADMIN (set it in the environment, not on the command line).
    #[arg(long, env = "AGORA_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
}

/// Why a signing key is too weak to use, if it is: shorter than [`MIN_SECRET_BYTES`],
/// a placeholder word (`changeme`, `secret`, …), or too few distinct characters to be
/// random (`aaaa…`, `abab…`).
pub fn weak_secret_reason(secret: &str) -> Option<&'static str> {
    let lower = secret.to_ascii_lowercase();
    if secret.len() < MIN_SECRET_BYTES {
        return Some("must be at least 32 bytes; generate one with `openssl rand -base64 48`");
    }
    if ["change-me", "changeme", "example", "secret", "password"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Some("looks like a placeholder; generate one with `openssl rand -base64 48`");
    }
    let distinct: std::collections::HashSet<char> = secret.chars().collect();
    if distinct.len() < 10 {
        return Some("has too little variety to be random");
    }
    None
}

impl std::fmt::Debug for ConfigArgs {
    // The settings hold secrets: only whether they are set is shown, as for `Config`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "<set>");
        f.debug_struct("ConfigArgs")
            .field("env", &self.env)
            .field("bind", &self.bind)
            .field("database_url", &set(&self.database_url))
            .field("redis_url", &set(&self.redis_url))
            .field("jwt_secret", &set(&self.jwt_secret))
            .field("smtp_url", &set(&self.smtp_url))
            .field(
                "bootstrap_admin_password",
                &set(&self.bootstrap_admin_password),
            )
            .finish_non_exhaustive()
    }
}

/// `FromStr` after trimming, with an error that quotes the value: used for settings that
/// are never secret.
fn trimmed<T: FromStr>(raw: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    raw.trim()
        .parse()
        .map_err(|e| format!("cannot parse {raw:?}: {e}"))
}

fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

fn environment(raw: &str) -> Result<Environment, String> {
    match raw.trim() {
        "development" | "dev" => Ok(Environment::Development),
        "production" | "prod" => Ok(Environment::Production),
        other => Err(format!("expected development or production, got {other:?}")),
    }
}

fn log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim() {
        "json" => Ok(LogFormat::Json),
        "pretty" | "text" => Ok(LogFormat::Pretty),
        other => Err(format!("expected json or pretty, got {other:?}")),
    }
}

fn send_rates(raw: &str) -> Result<crate::send_rate::SendRates, String> {
    crate::send_rate::SendRates::parse(raw)
}

/// The configuration command, built once: the table from flags to variable names that
/// [`Config::from_lookup`] and [`config_error`] read.
fn config_command() -> &'static clap::Command {
    static COMMAND: std::sync::OnceLock<clap::Command> = std::sync::OnceLock::new();
    COMMAND.get_or_init(|| {
        use clap::Args;
        let mut command = ConfigArgs::augment_args(clap::Command::new("api-server"));
        // built, so each argument renders as clap's errors name it
        command.build();
        command
    })
}

/// `cmd` with variables that are set but empty treated as unset, as they always were:
/// `AGORA_BIND=` in a `.env` means "the default", not "an empty address". Clap itself
/// would parse the empty value.
pub fn without_empty_env(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut cmd = cmd.mut_args(|a| {
        let empty = a
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty {
            a.env(clap::builder::Resettable::Reset)
        } else {
            a
        }
    });
    for name in names {
        cmd = cmd.mut_subcommand(name, without_empty_env);
    }
    cmd
}

/// Every environment variable the configuration reads, in the order of `--help`.
pub fn variables() -> impl Iterator<Item = &'static str> {
    config_command()
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|v| v.to_str()))
}

/// The [`ConfigError`] for a command-line error about a configuration flag or variable,
/// naming the variable. Its message comes from our value parsers, which quote only values
/// that are never secret; secrets have none (their schemes are checked in
/// [`ConfigArgs::into_config`] without echoing them). `None` for other errors (an
/// unknown flag, `--help`), which clap reports itself.
pub fn config_error(error: &clap::Error) -> Option<ConfigError> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let var = config_command()
        .get_arguments()
        .find(|a| a.to_string() == *arg)?
        .get_env()?
        .to_str()?;
    let message = std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_else(|| "is malformed".to_owned());
    Some(err(var, message))
}

/// Parses `AGORA_BOOTSTRAP_ADMIN` (`username:email`) and its password with the account
/// rules of registration, so a bad value stops startup with the variable and the rule
/// instead of a bare "invalid input" from the first request that needs the account.
fn bootstrap_admin(value: &str, password: Option<String>) -> Result<BootstrapAdmin, ConfigError> {
    const VAR: &str = "AGORA_BOOTSTRAP_ADMIN";
    let (username, email) = value.split_once(':').ok_or_else(|| {
        err(
            VAR,
            "expected username:email (e.g. admin:admin@example.org), found no ':'",
        )
    })?;
    let username = domain_identity::Username::parse(username).map_err(|e| {
        err(
            VAR,
            format!(
                "expected username:email; the username {} (3–32 letters, digits, '_', '.', '-')",
                e.message
            ),
        )
    })?;
    let email = domain_identity::Email::parse(email).map_err(|_| {
        err(
            VAR,
            "expected username:email; the part after ':' must be a valid e-mail address",
        )
    })?;
    let password = password.ok_or_else(|| {
        err(
            "AGORA_BOOTSTRAP_ADMIN_PASSWORD",
            "is required with AGORA_BOOTSTRAP_ADMIN",
        )
    })?;
    domain_identity::PasswordPolicy::default()
        .check("password", &password, username.as_str(), email.as_str())
        .map_err(|e| {
            err(
                "AGORA_BOOTSTRAP_ADMIN_PASSWORD",
                format!("the password {} (the rules of registration)", e.message),
            )
        })?;
    Ok(BootstrapAdmin {
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password,
    })
}

impl ConfigArgs {
    /// The configuration these settings describe, after the checks that span settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(err(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://",
            ));
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return Err(err(
                "REDIS_URL",
                "must start with redis://, rediss:// or unix://",
            ));
        }
        if let Some(url) = &self.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            // the value is not echoed: it may carry a password
            return Err(err("SMTP_URL", "must start with smtp:// or smtps://"));
        }
        if !(3..=3600).contains(&self.presence_ttl_secs) {
            return Err(err(
                "AGORA_PRESENCE_TTL_SECS",
                "must be between 3 and 3600 seconds",
            ));
        }
        let log_format = self.log_format.unwrap_or(match self.env {
            Environment::Production => LogFormat::Json,
            Environment::Development => LogFormat::Pretty,
        });
        let bootstrap_admin = match &self.bootstrap_admin {
            None => None,
            Some(v) => Some(bootstrap_admin(v, self.bootstrap_admin_password)?),
        };
        let cfg = Config {
            env: self.env,
            bind: self.bind,
            database_url: self.database_url,
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix,
            jwt_secret: self.jwt_secret,
            jwt_issuer: self.jwt_issuer,
            jwt_audience: self.jwt_audience,
            access_ttl_secs: self.access_ttl_secs,
            refresh_ttl_secs: self.refresh_ttl_secs,
            login_max_failures: self.login_max_failures,
            login_max_failures_per_client: self.login_max_failures_per_client,
            login_window_secs: self.login_window_secs,
            login_lockout_max_secs: self.login_lockout_max_secs,
            login_slow_after: self.login_slow_after,
            login_account_ceiling: self.login_account_ceiling,
            login_max_delay_ms: self.login_max_delay_ms,
            register_max_per_client: self.register_max_per_client,
            register_window_secs: self.register_window_secs,
            db_pool_size: self.db_pool_size,
            db_acquire_timeout_ms: self.db_acquire_timeout_ms,
            redis_acquire_timeout_ms: self.redis_acquire_timeout_ms,
            auto_migrate: self.auto_migrate,
            trust_proxy: self.trust_proxy,
            allowed_origins: self
                .allowed_origins
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
            room_send_rates: self.room_send_rates,
            presence_ttl_secs: self.presence_ttl_secs,
            workers: self.workers.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            }),
            shutdown_timeout_secs: self.shutdown_timeout_secs,
            log_format,
            log_filter: self.log_filter,
            worker_enabled: self.worker_enabled,
            worker_concurrency: self.worker_concurrency,
            worker_poll_ms: self.worker_poll_ms,
            smtp_url: self.smtp_url,
            mail_from: self.mail_from,
            bootstrap_admin,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Config {
    /// Reads the process environment (`.env` must be loaded before, as `main` does).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        use clap::Args;
        use clap::FromArgMatches;
        // Built afresh: clap reads the variables when the command is built.
        let command = ConfigArgs::augment_args(clap::Command::new("api-server"));
        let matches = without_empty_env(command)
            .try_get_matches_from(["api-server"])
            .map_err(|e| config_error(&e).unwrap_or_else(|| err("arguments", e.to_string())))?;
        ConfigArgs::from_arg_matches(&matches)
            .map_err(|e| err("arguments", e.to_string()))?
            .into_config()
    }

    /// Reads configuration from `(variable, value)` pairs only, never the process
    /// environment (for tests and embedding). Empty values count as unset, as in the
    /// environment; unknown variables are ignored, as the environment's are.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let values: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        Self::from_lookup(|k| values.get(k).cloned())
    }

    /// Reads configuration through `get` (for tests and embedding), never the process
    /// environment: each variable `get` knows becomes its flag, so clap parses and
    /// reports it exactly as it would from the environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use clap::FromArgMatches;
        let mut argv = vec!["api-server".to_owned()];
        for arg in config_command().get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env().and_then(|v| v.to_str()), arg.get_long())
            else {
                continue;
            };
            if let Some(value) = get(var).filter(|v| !v.is_empty()) {
                argv.push(format!("--{long}={value}"));
            }
        }
        // Without the process environment: only `get` speaks.
        let command = config_command()
            .clone()
            .mut_args(|a| a.env(clap::builder::Resettable::Reset));
        let matches = command.try_get_matches_from(argv).map_err(|e| {
            config_error(&e).unwrap_or_else(|| err("arguments", e.kind().to_string()))
        })?;
        ConfigArgs::from_arg_matches(&matches)
            .map_err(|e| err("arguments", e.kind().to_string()))?
            .into_config()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=86_400).contains(&self.access_ttl_secs) {
            return Err(err(
                "AGORA_ACCESS_TOKEN_TTL",
                "must be between 10 and 86400 seconds",
            ));
        }
        if self.refresh_ttl_secs < self.access_ttl_secs {
            return Err(err(
                "AGORA_REFRESH_TOKEN_TTL",
                "must not be shorter than AGORA_ACCESS_TOKEN_TTL",
            ));
        }
        if self.login_max_failures == 0 {
            return Err(err("AGORA_LOGIN_MAX_FAILURES", "must be at least 1"));
        }
        if self.login_max_failures_per_client == 0 {
            return Err(err(
                "AGORA_LOGIN_MAX_FAILURES_PER_CLIENT",
                "must be at least 1",
            ));
        }
        for (var, value) in [
            ("AGORA_LOGIN_WINDOW_SECS", self.login_window_secs),
            ("AGORA_LOGIN_LOCKOUT_MAX_SECS", self.login_lockout_max_secs),
            ("AGORA_REGISTER_WINDOW_SECS", self.register_window_secs),
        ] {
            // ten years: beyond that a window is a mistake, and the stores' arithmetic
            // is bounded there
            if !(1..=315_360_000).contains(&value) {
                return Err(err(var, "must be between 1 and 315360000 seconds"));
            }
        }
        if self.login_account_ceiling == 0 {
            return Err(err("AGORA_LOGIN_ACCOUNT_CEILING", "must be at least 1"));
        }
        if self.login_max_delay_ms > 30_000 {
            // a held-back answer keeps its connection open; past that, clients time out
            return Err(err("AGORA_LOGIN_MAX_DELAY_MS", "must be at most 30000"));
        }
        if self.register_max_per_client == 0 {
            return Err(err("AGORA_REGISTER_MAX_PER_CLIENT", "must be at least 1"));
        }
        if self.db_pool_size == 0 {
            return Err(err("AGORA_DB_POOL_SIZE", "must be at least 1"));
        }
        if !(50..=60_000).contains(&self.db_acquire_timeout_ms) {
            return Err(err(
                "AGORA_DB_ACQUIRE_TIMEOUT_MS",
                "must be between 50 and 60000 milliseconds",
            ));
        }
        if !(50..=60_000).contains(&self.redis_acquire_timeout_ms) {
            return Err(err(
                "AGORA_REDIS_ACQUIRE_TIMEOUT_MS",
                "must be between 50 and 60000 milliseconds",
            ));
        }
        if self.workers == 0 {
            return Err(err("AGORA_WORKERS", "must be at least 1"));
        }
        if !(10..=60_000).contains(&self.worker_poll_ms) {
            return Err(err("AGORA_WORKER_POLL_MS", "must be between 10 and 60000"));
        }
        if !(1..=256).contains(&self.worker_concurrency) {
            return Err(err("AGORA_WORKER_CONCURRENCY", "must be between 1 and 256"));
        }
        if self.env == Environment::Production {
            if self.database_url.is_none() {
                return Err(err("DATABASE_URL", "is required when AGORA_ENV=production"));
            }
            if self.redis_url.is_none() {
                return Err(err("REDIS_URL", "is required when AGORA_ENV=production"));
            }
            if self.jwt_secret.is_none() {
                return Err(err(
                    "AGORA_JWT_SECRET",
                    "is required when AGORA_ENV=production",
                ));
            }
        }
        // In every environment: a development server reachable by others signs tokens
        // with this key just as well, so a guessable one lets anyone forge an admin's
        // token. Only the key the process generates itself (when unset) skips the check.
        if let Some(s) = &self.jwt_secret
            && let Some(reason) = weak_secret_reason(s)
        {
            return Err(err("AGORA_JWT_SECRET", reason));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const STRONG: &str = "q8Zr1VtYx3Lm9Pw2Ks7Df4Gh6Jn0BcXa5Ue";

    #[test]
    fn no_configuration_is_a_development_server_on_8080() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.env, Environment::Development);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.is_none() && c.redis_url.is_none());
        assert!(c.worker_enabled && c.worker_concurrency == 4 && c.smtp_url.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            cfg(&[("AGORA_BIND", "nonsense")]).unwrap_err().var,
            "AGORA_BIND"
        );
        assert_eq!(
            cfg(&[("AGORA_ENV", "staging")]).unwrap_err().var,
            "AGORA_ENV"
        );
        assert_eq!(
            cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert_eq!(
            cfg(&[("AGORA_TRUST_PROXY", "maybe")]).unwrap_err().var,
            "AGORA_TRUST_PROXY"
        );
        assert_eq!(
            cfg(&[("AGORA_ACCESS_TOKEN_TTL", "1")]).unwrap_err().var,
            "AGORA_ACCESS_TOKEN_TTL"
        );
        assert_eq!(
            cfg(&[("AGORA_ROOM_SEND_RATES", "student=fast")])
                .unwrap_err()
                .var,
            "AGORA_ROOM_SEND_RATES"
        );
        assert_eq!(
            cfg(&[("AGORA_PRESENCE_TTL_SECS", "1")]).unwrap_err().var,
            "AGORA_PRESENCE_TTL_SECS"
        );
        assert_eq!(
            cfg(&[("AGORA_WORKER", "sometimes")]).unwrap_err().var,
            "AGORA_WORKER"
        );
        assert_eq!(
            cfg(&[("AGORA_WORKER_CONCURRENCY", "0")]).unwrap_err().var,
            "AGORA_WORKER_CONCURRENCY"
        );
        let e = cfg(&[("SMTP_URL", "http://u:hunter2@mail")]).unwrap_err();
        assert_eq!(e.var, "SMTP_URL");
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn login_and_registration_limits_are_checked_at_startup() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            (c.register_max_per_client, c.register_window_secs),
            (60, 3600)
        );
        for (var, bad) in [
            ("AGORA_LOGIN_MAX_FAILURES_PER_CLIENT", "0"),
            ("AGORA_LOGIN_LOCKOUT_MAX_SECS", "0"),
            ("AGORA_LOGIN_ACCOUNT_CEILING", "0"),
            ("AGORA_LOGIN_MAX_DELAY_MS", "60000"),
            ("AGORA_REGISTER_MAX_PER_CLIENT", "0"),
            ("AGORA_REGISTER_WINDOW_SECS", "0"),
            ("AGORA_LOGIN_WINDOW_SECS", "99999999999"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
    }

    #[test]
    fn production_refuses_missing_or_weak_keys() {
        let base = [
            ("AGORA_ENV", "production"),
            ("DATABASE_URL", "postgres://x/y"),
            ("REDIS_URL", "redis://x"),
        ];
        assert_eq!(cfg(&base).unwrap_err().var, "AGORA_JWT_SECRET");
        for weak in [
            "short",
            "change-me-change-me-change-me-change-me",
            "abababababababababababababababababab",
        ] {
            let mut v = base.to_vec();
            v.push(("AGORA_JWT_SECRET", weak));
            assert_eq!(
                cfg(&v).unwrap_err().var,
                "AGORA_JWT_SECRET",
                "{weak} accepted"
            );
        }
        let mut v = base.to_vec();
        v.push(("AGORA_JWT_SECRET", STRONG));
        assert_eq!(cfg(&v).unwrap().log_format, LogFormat::Json);
        assert_eq!(
            cfg(&[("AGORA_ENV", "production"), ("AGORA_JWT_SECRET", STRONG)])
                .unwrap_err()
                .var,
            "DATABASE_URL"
        );
    }

    #[test]
    fn weak_keys_are_refused_in_development_too() {
        for weak in [
            "short-key",
            "changeme-changeme-changeme-changeme-42",
            "my-very-long-jwt-secret-for-the-dev-server-2026",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabcabcabcabcabcabcabc",
        ] {
            let e = cfg(&[("AGORA_JWT_SECRET", weak)]).unwrap_err();
            assert_eq!(e.var, "AGORA_JWT_SECRET", "{weak} accepted");
            assert!(!e.to_string().contains(weak), "the key is not echoed");
        }
        // a strong key, and no key at all (the process generates its own), are fine
        assert!(cfg(&[("AGORA_JWT_SECRET", STRONG)]).is_ok());
        assert!(cfg(&[]).unwrap().jwt_secret.is_none());
    }

    #[test]
    fn bootstrap_admin_errors_name_the_variable_and_the_rule() {
        let pw = (
            "AGORA_BOOTSTRAP_ADMIN_PASSWORD",
            "platform operator passphrase",
        );
        let e = cfg(&[("AGORA_BOOTSTRAP_ADMIN", "admin"), pw]).unwrap_err();
        assert_eq!(e.var, "AGORA_BOOTSTRAP_ADMIN");
        assert!(e.to_string().contains("expected username:email"), "{e}");
        let e = cfg(&[("AGORA_BOOTSTRAP_ADMIN", "a:admin@example.org"), pw]).unwrap_err();
        assert_eq!(e.var, "AGORA_BOOTSTRAP_ADMIN");
        assert!(e.to_string().contains("3 to 32 characters"), "{e}");
        let e = cfg(&[("AGORA_BOOTSTRAP_ADMIN", "admin:not-an-address"), pw]).unwrap_err();
        assert!(e.to_string().contains("valid e-mail address"), "{e}");
        let e = cfg(&[("AGORA_BOOTSTRAP_ADMIN", "admin:admin@example.org")]).unwrap_err();
        assert_eq!(e.var, "AGORA_BOOTSTRAP_ADMIN_PASSWORD");
        let e = cfg(&[
            ("AGORA_BOOTSTRAP_ADMIN", "admin:admin@example.org"),
            ("AGORA_BOOTSTRAP_ADMIN_PASSWORD", "short"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "AGORA_BOOTSTRAP_ADMIN_PASSWORD");
        assert!(e.to_string().contains("at least 10 characters"), "{e}");
        assert!(
            !e.to_string().contains("short"),
            "the password is not echoed: {e}"
        );
        let ok = cfg(&[("AGORA_BOOTSTRAP_ADMIN", " Admin : Admin@Example.org "), pw]).unwrap();
        let admin = ok.bootstrap_admin.unwrap();
        assert_eq!(
            (admin.username.as_str(), admin.email.as_str()),
            ("Admin", "admin@example.org")
        );
    }

    #[test]
    fn acquire_timeouts_default_to_a_second_and_are_bounded() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            (c.db_acquire_timeout_ms, c.redis_acquire_timeout_ms),
            (1000, 1000)
        );
        for var in [
            "AGORA_DB_ACQUIRE_TIMEOUT_MS",
            "AGORA_REDIS_ACQUIRE_TIMEOUT_MS",
        ] {
            assert_eq!(cfg(&[(var, "0")]).unwrap_err().var, var);
            assert_eq!(cfg(&[(var, "soon")]).unwrap_err().var, var);
            assert!(cfg(&[(var, "250")]).is_ok());
        }
    }

    #[test]
    fn parsed_settings_hide_secrets_too() {
        let cli = crate::cli::Cli::parse_from_env([
            "api-server",
            "serve",
            "--jwt-secret",
            STRONG,
            "--database-url",
            "postgres://u:pw@h/db",
            "--bootstrap-admin-password",
            "hunter2 hunter2",
        ]);
        let text = format!("{cli:?}");
        assert!(text.contains("127.0.0.1:8080"), "{text}");
        assert!(!text.contains(STRONG) && !text.contains("pw@") && !text.contains("hunter2"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = cfg(&[
            ("AGORA_JWT_SECRET", STRONG),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("SMTP_URL", "smtps://mailer:smtp-pw@mail.example.org"),
        ])
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains(STRONG) && !text.contains("pw@"));
        assert!(!text.contains("smtp-pw"));
    }
}
