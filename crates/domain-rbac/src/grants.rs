//! What a user holds: role assignments and direct (usually temporary) permission grants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Permission, Scope};

/// A role held by a user in a scope, possibly until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Grant id.
    pub id: Uuid,
    /// Holder.
    pub user_id: Uuid,
    /// Role name.
    pub role: String,
    /// Where it holds (and everything inside).
    pub scope: Scope,
    /// After this instant the grant allows nothing (no cleanup job needed).
    pub expires_at: Option<DateTime<Utc>>,
    /// Who granted it (`None` for bootstrap grants).
    pub granted_by: Option<Uuid>,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// One permission granted directly to a user in a scope, usually for a limited time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionGrant {
    /// Grant id.
    pub id: Uuid,
    /// Holder.
    pub user_id: Uuid,
    /// The permission.
    pub permission: Permission,
    /// Where it holds.
    pub scope: Scope,
    /// After this instant it allows nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who granted it.
    pub granted_by: Option<Uuid>,
    /// When.
    pub granted_at: DateTime<Utc>,
}

fn active(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|t| now < t)
}

impl RoleAssignment {
    /// Whether the grant is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        active(self.expires_at, now)
    }
}

impl PermissionGrant {
    /// Whether the grant is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        active(self.expires_at, now)
    }
}

/// Everything a decision needs to know about the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The user, or `None` for an anonymous caller (who acts as `guest`).
    pub user_id: Option<Uuid>,
    /// Role assignments (expired ones may be present; decisions skip them).
    pub roles: Vec<RoleAssignment>,
    /// Direct permission grants.
    pub permissions: Vec<PermissionGrant>,
}

impl Subject {
    /// An anonymous caller.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// An authenticated user with these grants.
    pub fn user(
        user_id: Uuid,
        roles: Vec<RoleAssignment>,
        permissions: Vec<PermissionGrant>,
    ) -> Self {
        Self {
            user_id: Some(user_id),
            roles,
            permissions,
        }
    }
}
