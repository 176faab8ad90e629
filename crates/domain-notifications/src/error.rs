//! The one error type of the notifications domain.

use domain_core::StoreError;

/// Why a notification operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// Invalid input.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// No such notification for this user (another user's notification is not found
    /// either, so ids cannot be probed), or no such user.
    #[error("notification not found")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for NotificationError {
    /// Not found stays not found (an unknown user, a notification gone); anything else
    /// is a storage failure.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}
