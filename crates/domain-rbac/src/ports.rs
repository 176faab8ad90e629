//! Ports of the RBAC domain.
//!
//! Every write carries its [`AuditRecord`]; adapters store both in one transaction so a
//! change without its audit record (or the reverse) can never be observed. Writes whose
//! reactions must not be lost also carry their [`DomainEvent`]s, recorded in that same
//! transaction (the transactional outbox, see [`domain_core::events`]).

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, StoreError};
use uuid::Uuid;

use crate::{
    AuditCursor, AuditFilter, AuditRecord, Override, Permission, PermissionGrant, RoleAssignment,
    RoleTemplate, Scope, ScopePath, ScopeSet, Subject,
};

/// Which grants to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Only this user's.
    pub user_id: Option<Uuid>,
    /// Only grants held exactly in this scope.
    pub scope: Option<Scope>,
    /// Only grants held in one of these scopes (the scopes the reader may read grants
    /// in); `None`: no such restriction.
    pub readable: Option<ScopeSet>,
}

/// Durable RBAC data: role templates, overrides, grants and the audit trail.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RbacRepository: Send + Sync {
    /// Inserts the built-in roles that do not exist yet, with their permissions; roles
    /// that exist are left as they are (an operator may have edited them). Idempotent.
    /// Returns how many roles were inserted.
    async fn seed_roles(&self, defaults: Vec<RoleTemplate>) -> Result<usize, StoreError>;

    /// Every role template.
    async fn roles(&self) -> Result<Vec<RoleTemplate>, StoreError>;

    /// Every override.
    async fn overrides(&self) -> Result<Vec<Override>, StoreError>;

    /// The user's role assignments and permission grants (expired ones included).
    async fn subject(&self, user_id: Uuid) -> Result<Subject, StoreError>;

    /// Adds a custom role.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] (`"role"`) when the name exists.
    async fn insert_role(&self, role: RoleTemplate, audit: AuditRecord) -> Result<(), StoreError>;

    /// Replaces a role's own permissions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown role.
    async fn set_role_permissions(
        &self,
        role: &str,
        permissions: BTreeSet<Permission>,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;

    /// Deletes a role with its overrides and assignments.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown role.
    async fn delete_role(&self, role: &str, audit: AuditRecord) -> Result<(), StoreError>;

    /// Adds an override.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] (`"override"`) when one exists for the same role, scope
    /// and permission.
    async fn insert_override(&self, o: Override, audit: AuditRecord) -> Result<(), StoreError>;

    /// Removes an override and returns it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    async fn delete_override(&self, id: Uuid, audit: AuditRecord) -> Result<Override, StoreError>;

    /// Adds a role assignment, and records `events` (the service hands its
    /// [`crate::RbacEvent::RoleGranted`]) in the same transaction: they are stored
    /// exactly when the assignment is, so a reaction can be neither lost after the commit
    /// nor run for a grant that was rolled back. When the insert fails (any error below)
    /// nothing is recorded.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] (`"grant"`) when the user already holds the role in
    /// that scope; [`StoreError::NotFound`] when the user or the granting user does not
    /// exist.
    async fn insert_assignment(
        &self,
        a: RoleAssignment,
        audit: AuditRecord,
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;

    /// One assignment.
    async fn assignment(&self, id: Uuid) -> Result<Option<RoleAssignment>, StoreError>;

    /// Removes an assignment.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    async fn delete_assignment(&self, id: Uuid, audit: AuditRecord) -> Result<(), StoreError>;

    /// Assignments matching `filter`, ordered by id, after `after`, at most `limit`.
    async fn list_assignments(
        &self,
        filter: GrantFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RoleAssignment>, StoreError>;

    /// Adds a direct permission grant.
    async fn insert_permission_grant(
        &self,
        g: PermissionGrant,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;

    /// One permission grant.
    async fn permission_grant(&self, id: Uuid) -> Result<Option<PermissionGrant>, StoreError>;

    /// Removes a permission grant.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    async fn delete_permission_grant(&self, id: Uuid, audit: AuditRecord)
    -> Result<(), StoreError>;

    /// Deletes the role assignments and permission grants whose `expires_at` is strictly
    /// before `before` (grants without an expiry stay), and returns how many rows went.
    /// Housekeeping for a periodic job: decisions and identity's tokens already ignore
    /// expired grants, so purging changes no answer; it keeps the tables, and every grant
    /// set read and cached, from growing with dead rows. Not audited: the creation of
    /// each grant was, its expiry included.
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Appends an audit record on its own (for changes stored elsewhere).
    async fn append_audit(&self, audit: AuditRecord) -> Result<(), StoreError>;

    /// Audit records matching `filter`, newest first, strictly before `before`, at most
    /// `limit`.
    async fn list_audit(
        &self,
        filter: AuditFilter,
        before: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Resolves a scope to its ancestor chain from the organisation tree.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ScopeDirectory: Send + Sync {
    /// The path of `scope`, or `None` when the institution, campus or department does not
    /// exist. `global` always exists.
    async fn path_of(&self, scope: Scope) -> Result<Option<ScopePath>, StoreError>;

    /// The units `user_id` is listed as a member of (each makes them hold the implicit
    /// `member` role there). Empty for an unknown user.
    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Scope>, StoreError>;

    /// `scope` and every unit inside it (an institution's campuses and departments, a
    /// campus's departments), for lists that show what a caller may read. `global` is
    /// not expanded: callers treat it as "everything". Empty when `scope` does not exist.
    async fn within(&self, scope: Scope) -> Result<Vec<Scope>, StoreError>;
}

/// A shared cache of users' grant sets (Redis in production), in front of the repository.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SubjectCache: Send + Sync {
    /// The cached grant set of `user_id`, if present.
    async fn get(&self, user_id: Uuid) -> Result<Option<Subject>, StoreError>;
    /// Caches a grant set for `ttl_secs`.
    async fn put(&self, user_id: Uuid, subject: &Subject, ttl_secs: u64) -> Result<(), StoreError>;
    /// Drops a user's cached grant set.
    async fn invalidate(&self, user_id: Uuid) -> Result<(), StoreError>;
}

/// What changed, as announced to every instance so they drop stale in-process state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// A user's grants changed.
    User {
        /// The user.
        user_id: Uuid,
    },
    /// Role templates or overrides changed.
    Policy,
    /// The organisation tree changed (scope paths).
    Scopes,
}

/// Broadcasts invalidations to every instance (Redis pub/sub in production). Receiving
/// is wired in api-server, which feeds messages to [`crate::RbacService::apply`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait InvalidationBus: Send + Sync {
    /// Announces a change.
    async fn publish(&self, message: Invalidation) -> Result<(), StoreError>;
}
