//! The one error type of the debates domain.

use chrono::{DateTime, Utc};
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
    /// The user is muted in this session and may not send arguments.
    #[error("{}", muted_message(*until))]
    Muted {
        /// When the mute ends; `None`: when a moderator lifts it.
        until: Option<DateTime<Utc>>,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn muted_message(until: Option<DateTime<Utc>>) -> String {
    match until {
        Some(at) => format!("muted until {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "muted until a moderator lifts it".to_owned(),
    }
}
