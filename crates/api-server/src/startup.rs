//! What can stop the server or the worker from starting.

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A backing service could not be reached or prepared.
    #[error("{service}: {message}")]
    Backend {
        /// `PostgreSQL` or `Redis`.
        service: &'static str,
        /// What failed.
        message: String,
    },
    /// Anything else (binding the port, …).
    #[error("{0}")]
    Other(String),
}
