//! The one error type of the RBAC domain.

use domain_core::StoreError;

use crate::{AssignRefusal, Decision, Protected};

/// Why an RBAC operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// The caller is not allowed; the decision says why.
    #[error("forbidden: {}", .0.explain())]
    Forbidden(Decision),
    /// An assignment or revocation would escalate privileges.
    #[error("{0}")]
    Escalation(#[from] AssignRefusal),
    /// The scope names an institution, campus or department that does not exist.
    #[error("unknown scope {0}")]
    UnknownScope(String),
    /// No such role, grant or override.
    #[error("{0} not found")]
    NotFound(String),
    /// Invalid input (field, message).
    #[error("invalid {0}: {1}")]
    Invalid(String, String),
    /// The change would break a protected built-in role (`super_admin`, `guest`,
    /// `basic_user`; see [`crate::protect`]).
    #[error(transparent)]
    Protected(#[from] Protected),
    /// Conflicts with existing data (duplicate, built-in role…).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
