//! The audit trail: every change to roles, permissions, grants and overrides, append-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Scope, ScopeSet};

/// One audited change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`None` for the command line / bootstrap).
    pub actor: Option<Uuid>,
    /// What, e.g. `grant.create`, `grant.revoke`, `override.create`, `role.update`.
    pub action: String,
    /// What it was done to, e.g. `user:<id>`, `role:teacher`, `override:<id>`.
    pub target: String,
    /// Scope concerned, if any.
    pub scope: Option<Scope>,
    /// State before (JSON), if any.
    pub before: Option<serde_json::Value>,
    /// State after (JSON), if any.
    pub after: Option<serde_json::Value>,
    /// The HTTP request that made the change, if any.
    pub request_id: Option<String>,
}

/// Filter for listing the audit trail; all fields optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only changes by this actor.
    pub actor: Option<Uuid>,
    /// Only changes to this target (exact match).
    pub target: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only changes in this scope.
    pub scope: Option<Scope>,
    /// Only changes in one of these scopes (the scopes the reader may read the audit
    /// trail in); a record without a scope counts as `global`. `None`: no such
    /// restriction.
    pub readable: Option<ScopeSet>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// Position in the audit trail (newest first): records strictly older than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// Time of the last record seen.
    pub at: DateTime<Utc>,
    /// Its id (tie-breaker).
    pub id: Uuid,
}
