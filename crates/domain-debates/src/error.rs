//! The one error type of the debates domain.

use domain_core::StoreError;

/// Why a debate operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DebateError {
    /// Invalid input.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// No such topic, session, participant or message.
    #[error("{0} not found")]
    NotFound(String),
    /// Not possible in the current state (session not live, side full, already closed…);
    /// the message says why.
    #[error("{0}")]
    Conflict(String),
    /// The caller's seat does not allow it (audience sending, not a participant…).
    #[error("{0}")]
    NotAllowed(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
