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
    /// Organisational units the user is listed as a member of. Each makes the user hold
    /// the implicit `member` role there (and so read what is private to that unit).
    /// Absent from entries cached before memberships counted, hence the default.
    #[serde(default)]
    pub memberships: Vec<Scope>,
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
            memberships: Vec::new(),
        }
    }

    /// The same caller, listed as a member of `scopes`.
    #[must_use]
    pub fn with_memberships(mut self, scopes: Vec<Scope>) -> Self {
        self.memberships = scopes;
        self
    }

    /// Whether the caller may still act in `target` at `now` through something of their
    /// own: an active role assignment or permission grant, or a membership, whose scope
    /// covers it. Ownership of a resource holds only while this is true, so an expired
    /// or revoked grant also ends what its holder created there.
    pub fn present_in(&self, target: &crate::ScopePath, now: DateTime<Utc>) -> bool {
        target.target() == Scope::Global
            || self
                .roles
                .iter()
                .any(|a| a.is_active(now) && target.is_within(&a.scope))
            || self
                .permissions
                .iter()
                .any(|g| g.is_active(now) && target.is_within(&g.scope))
            || self.memberships.iter().any(|m| target.is_within(m))
    }
}
