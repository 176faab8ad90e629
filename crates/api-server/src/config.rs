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

fn parse<T: FromStr>(var: &'static str, raw: Option<String>, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| err(var, format!("cannot parse {v:?}: {e}"))),
    }
}

fn parse_bool(var: &'static str, raw: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match raw
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(err(var, format!("expected true or false, got {other:?}"))),
    }
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

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads configuration through `get` (for tests and embedding).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = match get("AGORA_ENV").as_deref().map(str::trim) {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(err(
                    "AGORA_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let default_bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let log_format = match get("AGORA_LOG_FORMAT").as_deref().map(str::trim) {
            None => {
                if env == Environment::Production {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                }
            }
            Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            Some(other) => {
                return Err(err(
                    "AGORA_LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ));
            }
        };
        let database_url = get("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(err(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://",
            ));
        }
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return Err(err(
                "REDIS_URL",
                "must start with redis://, rediss:// or unix://",
            ));
        }
        let jwt_secret = get("AGORA_JWT_SECRET");
        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            // the value is not echoed: it may carry a password
            return Err(err("SMTP_URL", "must start with smtp:// or smtps://"));
        }
        let cfg = Self {
            env,
            bind: parse("AGORA_BIND", get("AGORA_BIND"), default_bind)?,
            database_url,
            redis_url,
            redis_prefix: get("AGORA_REDIS_PREFIX").unwrap_or_else(|| "agora:".into()),
            jwt_secret,
            jwt_issuer: get("AGORA_JWT_ISSUER").unwrap_or_else(|| "agora".into()),
            jwt_audience: get("AGORA_JWT_AUDIENCE").unwrap_or_else(|| "agora-api".into()),
            access_ttl_secs: parse("AGORA_ACCESS_TOKEN_TTL", get("AGORA_ACCESS_TOKEN_TTL"), 900)?,
            refresh_ttl_secs: parse(
                "AGORA_REFRESH_TOKEN_TTL",
                get("AGORA_REFRESH_TOKEN_TTL"),
                14 * 24 * 3600,
            )?,
            login_max_failures: parse(
                "AGORA_LOGIN_MAX_FAILURES",
                get("AGORA_LOGIN_MAX_FAILURES"),
                5,
            )?,
            login_max_failures_per_client: parse(
                "AGORA_LOGIN_MAX_FAILURES_PER_CLIENT",
                get("AGORA_LOGIN_MAX_FAILURES_PER_CLIENT"),
                30,
            )?,
            login_window_secs: parse(
                "AGORA_LOGIN_WINDOW_SECS",
                get("AGORA_LOGIN_WINDOW_SECS"),
                900,
            )?,
            login_lockout_max_secs: parse(
                "AGORA_LOGIN_LOCKOUT_MAX_SECS",
                get("AGORA_LOGIN_LOCKOUT_MAX_SECS"),
                3600,
            )?,
            login_slow_after: parse("AGORA_LOGIN_SLOW_AFTER", get("AGORA_LOGIN_SLOW_AFTER"), 10)?,
            login_account_ceiling: parse(
                "AGORA_LOGIN_ACCOUNT_CEILING",
                get("AGORA_LOGIN_ACCOUNT_CEILING"),
                20,
            )?,
            login_max_delay_ms: parse(
                "AGORA_LOGIN_MAX_DELAY_MS",
                get("AGORA_LOGIN_MAX_DELAY_MS"),
                2000,
            )?,
            register_max_per_client: parse(
                "AGORA_REGISTER_MAX_PER_CLIENT",
                get("AGORA_REGISTER_MAX_PER_CLIENT"),
                60,
            )?,
            register_window_secs: parse(
                "AGORA_REGISTER_WINDOW_SECS",
                get("AGORA_REGISTER_WINDOW_SECS"),
                3600,
            )?,
            db_pool_size: parse("AGORA_DB_POOL_SIZE", get("AGORA_DB_POOL_SIZE"), 10)?,
            db_acquire_timeout_ms: parse(
                "AGORA_DB_ACQUIRE_TIMEOUT_MS",
                get("AGORA_DB_ACQUIRE_TIMEOUT_MS"),
                1000,
            )?,
            redis_acquire_timeout_ms: parse(
                "AGORA_REDIS_ACQUIRE_TIMEOUT_MS",
                get("AGORA_REDIS_ACQUIRE_TIMEOUT_MS"),
                1000,
            )?,
            auto_migrate: parse_bool("AGORA_AUTO_MIGRATE", get("AGORA_AUTO_MIGRATE"), true)?,
            trust_proxy: parse_bool("AGORA_TRUST_PROXY", get("AGORA_TRUST_PROXY"), false)?,
            allowed_origins: get("AGORA_ALLOWED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            room_send_rates: match get("AGORA_ROOM_SEND_RATES") {
                None => crate::send_rate::SendRates::default(),
                Some(v) => crate::send_rate::SendRates::parse(&v)
                    .map_err(|e| err("AGORA_ROOM_SEND_RATES", e))?,
            },
            presence_ttl_secs: match parse(
                "AGORA_PRESENCE_TTL_SECS",
                get("AGORA_PRESENCE_TTL_SECS"),
                30,
            )? {
                ttl @ 3..=3600 => ttl,
                _ => {
                    return Err(err(
                        "AGORA_PRESENCE_TTL_SECS",
                        "must be between 3 and 3600 seconds",
                    ));
                }
            },
            workers: parse(
                "AGORA_WORKERS",
                get("AGORA_WORKERS"),
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
            )?,
            shutdown_timeout_secs: parse(
                "AGORA_SHUTDOWN_TIMEOUT",
                get("AGORA_SHUTDOWN_TIMEOUT"),
                30,
            )?,
            log_format,
            worker_enabled: parse_bool("AGORA_WORKER", get("AGORA_WORKER"), true)?,
            worker_concurrency: parse(
                "AGORA_WORKER_CONCURRENCY",
                get("AGORA_WORKER_CONCURRENCY"),
                4,
            )?,
            worker_poll_ms: parse("AGORA_WORKER_POLL_MS", get("AGORA_WORKER_POLL_MS"), 250)?,
            smtp_url,
            mail_from: get("AGORA_MAIL_FROM")
                .unwrap_or_else(|| "Agora <no-reply@localhost>".into()),
            bootstrap_admin: match get("AGORA_BOOTSTRAP_ADMIN") {
                None => None,
                Some(v) => Some(bootstrap_admin(&v, get("AGORA_BOOTSTRAP_ADMIN_PASSWORD"))?),
            },
        };
        cfg.validate()?;
        Ok(cfg)
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
