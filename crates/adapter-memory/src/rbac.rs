//! RBAC data in maps shaped like the PostgreSQL tables: role templates, overrides, role
//! assignments (also served to identity as its [`GrantSource`], as `user_roles` is in
//! PostgreSQL), direct permission grants and the append-only audit trail.
//!
//! A write checks everything that could refuse it before changing anything, in the
//! order PostgreSQL finds the problems (primary key, unique constraint, foreign key,
//! then the audit record's id), so a refused write changes nothing and reports the same
//! error as there.
//!
//! The events handed with an assignment go to the [`MemoryOutbox`] while the state lock
//! is held, after the change is made, so no reader sees the assignment without its
//! events and a refused write records none.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, StoreError};
use domain_identity::{GrantSource, RoleGrant, UserId, UserRepository};
use domain_rbac::{
    AuditCursor, AuditFilter, AuditRecord, GrantFilter, Override, Permission, PermissionGrant,
    RbacRepository, RoleAssignment, RoleTemplate, Scope, ScopeSet, Subject,
};
use uuid::Uuid;

use crate::{MemoryOutbox, lock, stored};

/// In-process [`RbacRepository`]. Users are looked up in the given [`UserRepository`],
/// standing in for the foreign keys of the PostgreSQL tables.
pub struct MemoryRbacRepository {
    users: Arc<dyn UserRepository>,
    state: Mutex<Rbac>,
    /// Where the events of a change are recorded; none by default.
    outbox: MemoryOutbox,
}

impl std::fmt::Debug for MemoryRbacRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRbacRepository")
            .field("state", &self.state)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Rbac {
    roles: BTreeMap<String, RoleTemplate>,
    overrides: BTreeMap<Uuid, Override>,
    /// Keyed by id, so iteration is in id order, as the PostgreSQL adapter lists them.
    assignments: BTreeMap<Uuid, Assignment>,
    permission_grants: BTreeMap<Uuid, PermissionGrant>,
    /// In insertion order; only ever appended to.
    audit: Vec<AuditRecord>,
    audit_ids: HashSet<Uuid>,
}

/// A role assignment as `user_roles` stores it: the scope as text, because identity's
/// [`GrantSource`] writes free-form scopes. Rows whose scope the domain cannot read are
/// skipped when read as [`RoleAssignment`]s (they grant nothing), as in PostgreSQL.
#[derive(Debug, Clone)]
struct Assignment {
    id: Uuid,
    user_id: Uuid,
    role: String,
    scope: String,
    expires_at: Option<DateTime<Utc>>,
    granted_by: Option<Uuid>,
    granted_at: DateTime<Utc>,
}

impl Assignment {
    fn of(a: &RoleAssignment) -> Self {
        Self {
            id: a.id,
            user_id: a.user_id,
            role: a.role.clone(),
            scope: a.scope.to_string(),
            expires_at: a.expires_at.map(stored),
            granted_by: a.granted_by,
            granted_at: stored(a.granted_at),
        }
    }

    fn read(&self) -> Option<RoleAssignment> {
        Some(RoleAssignment {
            id: self.id,
            user_id: self.user_id,
            role: self.role.clone(),
            scope: self.scope.parse::<Scope>().ok()?,
            expires_at: self.expires_at,
            granted_by: self.granted_by,
            granted_at: self.granted_at,
        })
    }

    fn is(&self, user_id: Uuid, role: &str, scope: &str) -> bool {
        self.user_id == user_id && self.role == role && self.scope == scope
    }
}

impl Rbac {
    /// Refuses an audit record whose id is taken (the `rbac_audit` primary key).
    fn check_audit(&self, audit: &AuditRecord) -> Result<(), StoreError> {
        if self.audit_ids.contains(&audit.id) {
            return Err(StoreError::Duplicate("audit".into()));
        }
        Ok(())
    }

    /// Appends a record checked by [`Rbac::check_audit`].
    fn append(&mut self, mut audit: AuditRecord) {
        audit.at = stored(audit.at);
        self.audit_ids.insert(audit.id);
        self.audit.push(audit);
    }
}

impl MemoryRbacRepository {
    /// No roles, grants or audit records; users are those of `users`. Events handed
    /// with a change are dropped until an outbox is given ([`Self::with_outbox`]).
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            users,
            state: Mutex::new(Rbac::default()),
            outbox: MemoryOutbox::default(),
        }
    }

    /// Records the events handed with a change in `outbox` (as `events.dispatch` jobs on
    /// its queue), together with the change: give it the queue the job workers drain.
    #[must_use]
    pub fn with_outbox(mut self, outbox: MemoryOutbox) -> Self {
        self.outbox = outbox;
        self
    }

    /// Whether the holder and the granting user (if any) exist; looked up before the
    /// state is locked, as the lock is never held across an `.await`.
    async fn users_exist(
        &self,
        holder: Uuid,
        granted_by: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        for id in std::iter::once(holder).chain(granted_by) {
            if self.users.by_id(UserId(id)).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Gives `user` the role `grant` until `expires_at` (`None`: for good). If the user
    /// already holds it, only its expiry changes, to `expires_at`. Either way the change
    /// is recorded in the audit trail as the command line's (no actor, action
    /// `grant.create`, target `user:<id>`, request id `cli`), as the PostgreSQL adapter
    /// does.
    ///
    /// # Errors
    /// None in memory; the signature matches the PostgreSQL adapter's.
    pub async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = stored(now);
        let mut s = lock(&self.state);
        let existing = s
            .assignments
            .values_mut()
            .find(|a| a.is(user.0, &grant.role, &grant.scope));
        let row = match existing {
            Some(a) => {
                a.expires_at = expires_at.map(stored);
                a.clone()
            }
            None => {
                let a = Assignment {
                    id: Uuid::new_v4(),
                    user_id: user.0,
                    role: grant.role,
                    scope: grant.scope,
                    expires_at: expires_at.map(stored),
                    granted_by: None,
                    granted_at: now,
                };
                s.assignments.insert(a.id, a.clone());
                a
            }
        };
        s.append(cli_audit(&row, now));
        Ok(())
    }
}

/// The audit record of a grant made through identity (the command line's bootstrap);
/// the same as the PostgreSQL adapter's.
fn cli_audit(row: &Assignment, now: DateTime<Utc>) -> AuditRecord {
    AuditRecord {
        id: Uuid::new_v4(),
        at: now,
        actor: None,
        action: "grant.create".into(),
        target: format!("user:{}", row.user_id),
        scope: row.scope.parse().ok(),
        before: None,
        after: Some(serde_json::json!({
            "id": row.id,
            "user_id": row.user_id,
            "role": row.role,
            "scope": row.scope,
            "expires_at": row.expires_at,
            "granted_by": row.granted_by,
            "granted_at": row.granted_at,
        })),
        request_id: Some("cli".into()),
    }
}

fn stored_grant(g: PermissionGrant) -> PermissionGrant {
    PermissionGrant {
        expires_at: g.expires_at.map(stored),
        granted_at: stored(g.granted_at),
        ..g
    }
}

#[async_trait]
impl RbacRepository for MemoryRbacRepository {
    async fn seed_roles(&self, defaults: Vec<RoleTemplate>) -> Result<usize, StoreError> {
        let mut s = lock(&self.state);
        let mut inserted = 0;
        for t in defaults {
            if !s.roles.contains_key(&t.name) {
                s.roles.insert(t.name.clone(), t);
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    async fn roles(&self) -> Result<Vec<RoleTemplate>, StoreError> {
        Ok(lock(&self.state).roles.values().cloned().collect())
    }

    async fn overrides(&self) -> Result<Vec<Override>, StoreError> {
        Ok(lock(&self.state).overrides.values().cloned().collect())
    }

    async fn subject(&self, user_id: Uuid) -> Result<Subject, StoreError> {
        let s = lock(&self.state);
        let roles = s
            .assignments
            .values()
            .filter(|a| a.user_id == user_id)
            .filter_map(Assignment::read)
            .collect();
        let permissions = s
            .permission_grants
            .values()
            .filter(|g| g.user_id == user_id)
            .cloned()
            .collect();
        Ok(Subject::user(user_id, roles, permissions))
    }

    async fn insert_role(&self, role: RoleTemplate, audit: AuditRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.roles.contains_key(&role.name) {
            return Err(StoreError::Duplicate("role".into()));
        }
        s.check_audit(&audit)?;
        s.roles.insert(role.name.clone(), role);
        s.append(audit);
        Ok(())
    }

    async fn set_role_permissions(
        &self,
        role: &str,
        permissions: BTreeSet<Permission>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if !s.roles.contains_key(role) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        if let Some(t) = s.roles.get_mut(role) {
            t.permissions = permissions;
        }
        s.append(audit);
        Ok(())
    }

    async fn delete_role(&self, role: &str, audit: AuditRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if !s.roles.contains_key(role) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.roles.remove(role);
        s.overrides.retain(|_, o| o.role != role);
        s.assignments.retain(|_, a| a.role != role);
        s.append(audit);
        Ok(())
    }

    async fn insert_override(&self, o: Override, audit: AuditRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.overrides.contains_key(&o.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        let clash = s
            .overrides
            .values()
            .any(|x| x.role == o.role && x.scope == o.scope && x.permission == o.permission);
        if clash {
            return Err(StoreError::Duplicate("override".into()));
        }
        if !s.roles.contains_key(&o.role) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.overrides.insert(o.id, o);
        s.append(audit);
        Ok(())
    }

    async fn delete_override(&self, id: Uuid, audit: AuditRecord) -> Result<Override, StoreError> {
        let mut s = lock(&self.state);
        if !s.overrides.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        let removed = s.overrides.remove(&id).ok_or(StoreError::NotFound)?;
        s.append(audit);
        Ok(removed)
    }

    async fn insert_assignment(
        &self,
        a: RoleAssignment,
        audit: AuditRecord,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let users_exist = self.users_exist(a.user_id, a.granted_by).await?;
        let row = Assignment::of(&a);
        let mut s = lock(&self.state);
        if s.assignments.contains_key(&row.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if s.assignments
            .values()
            .any(|x| x.is(row.user_id, &row.role, &row.scope))
        {
            return Err(StoreError::Duplicate("grant".into()));
        }
        if !users_exist {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.assignments.insert(row.id, row);
        s.append(audit);
        // Still under the lock: the assignment and its events appear together.
        self.outbox.record(events);
        Ok(())
    }

    async fn assignment(&self, id: Uuid) -> Result<Option<RoleAssignment>, StoreError> {
        Ok(lock(&self.state)
            .assignments
            .get(&id)
            .and_then(Assignment::read))
    }

    async fn delete_assignment(&self, id: Uuid, audit: AuditRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if !s.assignments.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.assignments.remove(&id);
        s.append(audit);
        Ok(())
    }

    async fn list_assignments(
        &self,
        filter: GrantFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RoleAssignment>, StoreError> {
        let scope = filter.scope.map(|s| s.to_string());
        let readable = filter.readable.as_ref().map(ScopeSet::as_text);
        let s = lock(&self.state);
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        // The page is cut before unreadable rows are dropped, as in PostgreSQL (LIMIT).
        Ok(s.assignments
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, a)| a)
            .filter(|a| filter.user_id.is_none_or(|u| a.user_id == u))
            .filter(|a| scope.as_ref().is_none_or(|s| &a.scope == s))
            .filter(|a| readable.as_ref().is_none_or(|r| in_set(r, &a.scope)))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .filter_map(Assignment::read)
            .collect())
    }

    async fn insert_permission_grant(
        &self,
        g: PermissionGrant,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let users_exist = self.users_exist(g.user_id, g.granted_by).await?;
        let mut s = lock(&self.state);
        if s.permission_grants.contains_key(&g.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if !users_exist {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.permission_grants.insert(g.id, stored_grant(g));
        s.append(audit);
        Ok(())
    }

    async fn permission_grant(&self, id: Uuid) -> Result<Option<PermissionGrant>, StoreError> {
        Ok(lock(&self.state).permission_grants.get(&id).cloned())
    }

    async fn delete_permission_grant(
        &self,
        id: Uuid,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if !s.permission_grants.contains_key(&id) {
            return Err(StoreError::NotFound);
        }
        s.check_audit(&audit)?;
        s.permission_grants.remove(&id);
        s.append(audit);
        Ok(())
    }

    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // At the stored precision, as PostgreSQL compares it.
        let before = stored(before);
        let expired = |e: Option<DateTime<Utc>>| e.is_some_and(|t| t < before);
        let mut s = lock(&self.state);
        let was = s.assignments.len() + s.permission_grants.len();
        s.assignments.retain(|_, a| !expired(a.expires_at));
        s.permission_grants.retain(|_, g| !expired(g.expires_at));
        let gone = was - (s.assignments.len() + s.permission_grants.len());
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }

    async fn append_audit(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        s.check_audit(&audit)?;
        s.append(audit);
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: AuditFilter,
        before: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // Bounds at the stored precision, as PostgreSQL compares them.
        let since = filter.since.map(stored);
        let until = filter.until.map(stored);
        let before = before.map(|c| (stored(c.at), c.id));
        let s = lock(&self.state);
        let mut found: Vec<&AuditRecord> = s
            .audit
            .iter()
            .filter(|r| filter.actor.is_none_or(|a| r.actor == Some(a)))
            .filter(|r| filter.target.as_ref().is_none_or(|t| &r.target == t))
            .filter(|r| filter.action.as_ref().is_none_or(|a| &r.action == a))
            .filter(|r| filter.scope.is_none_or(|sc| r.scope == Some(sc)))
            .filter(|r| {
                // a record without a scope is a change of the whole platform: global
                let scope = r.scope.unwrap_or(Scope::Global);
                filter
                    .readable
                    .as_ref()
                    .is_none_or(|set| set.contains(&scope))
            })
            .filter(|r| since.is_none_or(|t| r.at >= t))
            .filter(|r| until.is_none_or(|t| r.at < t))
            .filter(|r| before.is_none_or(|c| (r.at, r.id) < c))
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found.into_iter().cloned().collect())
    }
}

/// Whether a stored scope is in a [`ScopeSet`] in text form (see [`ScopeSet::as_text`]).
fn in_set((only, list): &(bool, Vec<String>), scope: &str) -> bool {
    *only == list.iter().any(|s| s == scope)
}

/// Identity's view of the role assignments, as [`crate::MemoryGrantSource`] offers it:
/// use one `Arc<MemoryRbacRepository>` as both ports so that the bootstrap grant counts
/// for RBAC decisions and RBAC assignments show in tokens, as with PostgreSQL.
#[async_trait]
impl GrantSource for MemoryRbacRepository {
    async fn grants_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleGrant>, StoreError> {
        let now = stored(now);
        let mut grants: Vec<RoleGrant> = lock(&self.state)
            .assignments
            .values()
            .filter(|a| a.user_id == user.0 && a.expires_at.is_none_or(|e| e > now))
            .map(|a| RoleGrant {
                role: a.role.clone(),
                scope: a.scope.clone(),
            })
            .collect();
        grants.sort_by(|a, b| (&a.role, &a.scope).cmp(&(&b.role, &b.scope)));
        Ok(grants)
    }

    /// Idempotent; makes a grant that was set to expire permanent.
    async fn add_grant(
        &self,
        user: UserId,
        grant: RoleGrant,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_grant_until(user, grant, None, now).await
    }
}
