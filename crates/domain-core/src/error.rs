//! Error contract shared by storage ports.
//!
//! Adapters translate driver errors into [`StoreError`] so that domain services can react
//! to "duplicate" or "not found" without knowing which database answered.

use serde::Serialize;

/// What a storage port can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the payload names the field (for example `"email"`).
    #[error("duplicate value for {0}")]
    Duplicate(String),
    /// The record addressed by the call does not exist.
    #[error("record not found")]
    NotFound,
    /// The backing service could not be reached or timed out; worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the cause is kept for the logs, never shown to clients.
    #[error("unexpected storage error: {0}")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any error as [`StoreError::Unexpected`].
    pub fn unexpected(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(err))
    }
}

/// One invalid input field and why, as shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Name of the field in the request body.
    pub field: String,
    /// Human-readable reason.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
