//! The one error type of the identity domain. HTTP status codes are chosen in api-server.

use domain_core::{FieldError, StoreError};

/// Why an identity operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Input did not pass validation; every bad field is listed.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// A unique field (`username` or `email`) is already taken.
    #[error("{0} is already taken")]
    Taken(String),
    /// Unknown account or wrong password; deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account exists and the password is right, but it has been disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The access or refresh token is missing, malformed, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A refresh token was presented a second time; its session has been revoked.
    #[error("refresh token reused; session revoked")]
    TokenReused,
    /// Too many failed attempts; retry after this many seconds.
    #[error("too many attempts")]
    RateLimited {
        /// Seconds until another attempt will be considered.
        retry_after_secs: u64,
    },
    /// The addressed record (user, session) does not exist or is not the caller's.
    #[error("not found")]
    NotFound,
    /// Storage failed; the cause is logged, not shown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen (hashing backend failure, key error).
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    pub(crate) fn field(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}
