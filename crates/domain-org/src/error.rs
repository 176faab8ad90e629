//! The one error type of the organisation domain. HTTP status codes are chosen in
//! api-server.

use domain_core::StoreError;

/// Why an organisation operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// Input did not pass validation.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// Name of the offending input (`"name"`).
        field: String,
        /// Human-readable reason, fit to show the client.
        message: String,
    },
    /// The addressed record does not exist; the payload says which kind of record:
    /// `"institution"`, `"campus"`, `"department"`, `"user"` or `"member"`.
    #[error("{0} not found")]
    NotFound(String),
    /// The change clashes with existing data (a name taken under the same parent, a
    /// user who is already a member); the payload is a message fit to show the client.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed; the cause is logged, not shown.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OrgError {
    pub(crate) fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::NotFound(what.into())
    }
}
