//! RBAC data: role templates (`roles`, `role_permissions`), overrides (`role_overrides`),
//! role assignments (`user_roles`, shared with identity's [`crate::PgGrantSource`]),
//! direct permission grants (`permission_grants`) and the audit trail (`rbac_audit`).
//!
//! Every write stores its audit record in the same transaction; an assignment also the
//! events handed with it, as `events.dispatch` jobs ([`crate::record_events`]). Scopes
//! and permissions are stored in their text form; a row the domain cannot read back (a
//! scope or permission it does not know, e.g. a bootstrap grant written through
//! identity's `GrantSource` with a free-form scope) is skipped with a warning: it grants
//! nothing, and one odd row must not stop every decision about its user.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain_core::{DomainEvent, StoreError};
use domain_rbac::{
    AuditCursor, AuditFilter, AuditRecord, Effect, GrantFilter, Override, Permission,
    PermissionGrant, RbacRepository, RoleAssignment, RoleTemplate, Scope, ScopeSet, Subject,
};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::jobs::record_events;
use crate::schema::{
    permission_grants, permissions, rbac_audit, role_overrides, role_permissions, roles, user_roles,
};

/// [`RbacRepository`] over PostgreSQL.
#[derive(Clone)]
pub struct PgRbacRepository {
    pool: PgPool,
}

impl PgRbacRepository {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Maps an error of an RBAC write: a foreign-key violation means the user, role or
/// permission the write refers to does not exist, and [`Error::NotFound`] is what the
/// writes below raise on purpose to roll back when their target does not exist (every
/// read that may find nothing uses `.optional()`). Everything else as [`db_error`].
pub(crate) fn rbac_error(e: Error) -> StoreError {
    match e {
        Error::NotFound | Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        other => db_error(other),
    }
}

/// `Err(NotFound)` (rolling the transaction back) when a write touched no row.
fn touched(rows: usize) -> Result<(), Error> {
    if rows == 0 {
        Err(Error::NotFound)
    } else {
        Ok(())
    }
}

/// Parses a stored scope or permission, or says why the row is skipped.
fn readable<T: std::str::FromStr>(what: &str, text: &str) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match text.parse() {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(%e, value = text, "skipping a stored {what} the domain cannot read");
            None
        }
    }
}

fn effect_text(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

// ---- rows ------------------------------------------------------------------------

#[derive(Queryable, Selectable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
struct RoleRow {
    name: String,
    rank: i16,
    description: String,
    built_in: bool,
    inherits: Vec<Option<String>>,
}

/// A role to insert; `created_at` `None` takes the column default (`now()`).
#[derive(Insertable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
struct NewRoleRow {
    name: String,
    rank: i16,
    description: String,
    built_in: bool,
    inherits: Vec<Option<String>>,
    created_at: Option<DateTime<Utc>>,
}

impl NewRoleRow {
    fn of(t: &RoleTemplate, created_at: Option<DateTime<Utc>>) -> Self {
        Self {
            name: t.name.clone(),
            rank: i16::from(t.rank),
            description: t.description.clone(),
            built_in: t.built_in,
            inherits: t.inherits.iter().cloned().map(Some).collect(),
            created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = role_overrides, check_for_backend(diesel::pg::Pg))]
struct OverrideRow {
    id: Uuid,
    role: String,
    scope: String,
    permission: String,
    effect: String,
}

impl OverrideRow {
    fn of(o: &Override) -> Self {
        Self {
            id: o.id,
            role: o.role.clone(),
            scope: o.scope.to_string(),
            permission: o.permission.to_string(),
            effect: effect_text(o.effect).to_owned(),
        }
    }

    fn read(self) -> Option<Override> {
        let effect = match self.effect.as_str() {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            other => {
                tracing::warn!(
                    effect = other,
                    "skipping an override with an unknown effect"
                );
                return None;
            }
        };
        Some(Override {
            id: self.id,
            scope: readable("scope", &self.scope)?,
            permission: readable("permission", &self.permission)?,
            role: self.role,
            effect,
        })
    }
}

/// A row of `user_roles`: a role assignment.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_roles, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AssignmentRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) role: String,
    pub(crate) scope: String,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) granted_by: Option<Uuid>,
    pub(crate) granted_at: DateTime<Utc>,
}

impl AssignmentRow {
    fn of(a: &RoleAssignment) -> Self {
        Self {
            id: a.id,
            user_id: a.user_id,
            role: a.role.clone(),
            scope: a.scope.to_string(),
            expires_at: a.expires_at,
            granted_by: a.granted_by,
            granted_at: a.granted_at,
        }
    }

    fn read(self) -> Option<RoleAssignment> {
        Some(RoleAssignment {
            scope: readable("scope", &self.scope)?,
            id: self.id,
            user_id: self.user_id,
            role: self.role,
            expires_at: self.expires_at,
            granted_by: self.granted_by,
            granted_at: self.granted_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = permission_grants, check_for_backend(diesel::pg::Pg))]
struct PermissionGrantRow {
    id: Uuid,
    user_id: Uuid,
    permission: String,
    scope: String,
    expires_at: Option<DateTime<Utc>>,
    granted_by: Option<Uuid>,
    granted_at: DateTime<Utc>,
}

impl PermissionGrantRow {
    fn of(g: &PermissionGrant) -> Self {
        Self {
            id: g.id,
            user_id: g.user_id,
            permission: g.permission.to_string(),
            scope: g.scope.to_string(),
            expires_at: g.expires_at,
            granted_by: g.granted_by,
            granted_at: g.granted_at,
        }
    }

    fn read(self) -> Option<PermissionGrant> {
        Some(PermissionGrant {
            id: self.id,
            user_id: self.user_id,
            permission: readable("permission", &self.permission)?,
            scope: readable("scope", &self.scope)?,
            expires_at: self.expires_at,
            granted_by: self.granted_by,
            granted_at: self.granted_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = rbac_audit, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor: Option<Uuid>,
    action: String,
    target: String,
    scope: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
}

impl AuditRow {
    fn of(a: AuditRecord) -> Self {
        Self {
            id: a.id,
            at: a.at,
            actor: a.actor,
            action: a.action,
            target: a.target,
            scope: a.scope.map(|s| s.to_string()),
            before: a.before,
            after: a.after,
            request_id: a.request_id,
        }
    }

    /// The record; the table's CHECK constraint only admits scopes in the domain's form.
    fn read(self) -> Result<AuditRecord, StoreError> {
        let scope = match self.scope {
            Some(s) => Some(s.parse::<Scope>().map_err(StoreError::unexpected)?),
            None => None,
        };
        Ok(AuditRecord {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            scope,
            before: self.before,
            after: self.after,
            request_id: self.request_id,
        })
    }
}

/// Appends `audit` on `conn`, normally inside the transaction of the change it records.
pub(crate) async fn insert_audit(
    conn: &mut AsyncPgConnection,
    audit: AuditRecord,
) -> Result<(), Error> {
    diesel::insert_into(rbac_audit::table)
        .values(AuditRow::of(audit))
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds the permissions of the catalogue that are missing (the migration inserts the
/// catalogue as it was then; permissions added to the code since arrive here).
async fn ensure_catalogue(conn: &mut AsyncPgConnection) -> Result<(), Error> {
    let names: Vec<_> = Permission::all()
        .map(|p| permissions::name.eq(p.to_string()))
        .collect();
    diesel::insert_into(permissions::table)
        .values(names)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_role_permissions(
    conn: &mut AsyncPgConnection,
    role: &str,
    perms: &BTreeSet<Permission>,
) -> Result<(), Error> {
    if perms.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = perms
        .iter()
        .map(|p| {
            (
                role_permissions::role.eq(role.to_owned()),
                role_permissions::permission.eq(p.to_string()),
            )
        })
        .collect();
    diesel::insert_into(role_permissions::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl RbacRepository for PgRbacRepository {
    /// One transaction; `INSERT … ON CONFLICT DO NOTHING` inserts only the missing
    /// roles, and permissions are added for exactly those. Two processes seeding at once
    /// wait on each other's new rows, so each role is inserted once, with its permissions.
    async fn seed_roles(&self, mut defaults: Vec<RoleTemplate>) -> Result<usize, StoreError> {
        // Always the same order, so concurrent seeders lock rows in the same order.
        // (A stable sort: of two templates with one name, the first is kept, as in memory.)
        defaults.sort_by(|a, b| a.name.cmp(&b.name));
        defaults.dedup_by(|later, first| later.name == first.name);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            ensure_catalogue(conn).await?;
            if defaults.is_empty() {
                return Ok(0);
            }
            let rows: Vec<NewRoleRow> = defaults.iter().map(|t| NewRoleRow::of(t, None)).collect();
            let inserted: Vec<String> = diesel::insert_into(roles::table)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(roles::name)
                .get_results(conn)
                .await?;
            for t in defaults.iter().filter(|t| inserted.contains(&t.name)) {
                insert_role_permissions(conn, &t.name, &t.permissions).await?;
            }
            Ok::<_, Error>(inserted.len())
        })
        .await
        .map_err(rbac_error)
    }

    async fn roles(&self) -> Result<Vec<RoleTemplate>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // One snapshot for both tables, so a concurrent change is seen whole or not at all.
        let (rows, perms) = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(async |conn| {
                let rows: Vec<RoleRow> =
                    roles::table.select(RoleRow::as_select()).load(conn).await?;
                let perms: Vec<(String, String)> = role_permissions::table
                    .select((role_permissions::role, role_permissions::permission))
                    .load(conn)
                    .await?;
                Ok::<_, Error>((rows, perms))
            })
            .await
            .map_err(db_error)?;
        let mut by_role: HashMap<String, BTreeSet<Permission>> = HashMap::new();
        for (role, p) in perms {
            if let Some(p) = readable("permission", &p) {
                by_role.entry(role).or_default().insert(p);
            }
        }
        let mut templates: Vec<RoleTemplate> = rows
            .into_iter()
            .map(|r| RoleTemplate {
                permissions: by_role.remove(&r.name).unwrap_or_default(),
                // The CHECK constraint keeps it within 0..=255.
                rank: u8::try_from(r.rank).unwrap_or(0),
                name: r.name,
                description: r.description,
                built_in: r.built_in,
                inherits: r.inherits.into_iter().flatten().collect(),
            })
            .collect();
        // Byte order, independent of the database's collation; as the memory adapter.
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(templates)
    }

    async fn overrides(&self) -> Result<Vec<Override>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<OverrideRow> = role_overrides::table
            .order(role_overrides::id)
            .select(OverrideRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().filter_map(OverrideRow::read).collect())
    }

    async fn subject(&self, user_id: Uuid) -> Result<Subject, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // One snapshot for both tables (the grant set is cached as a whole).
        let (roles, grants) = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(async |conn| {
                let roles: Vec<AssignmentRow> = user_roles::table
                    .filter(user_roles::user_id.eq(user_id))
                    .order(user_roles::id)
                    .select(AssignmentRow::as_select())
                    .load(conn)
                    .await?;
                let grants: Vec<PermissionGrantRow> = permission_grants::table
                    .filter(permission_grants::user_id.eq(user_id))
                    .order(permission_grants::id)
                    .select(PermissionGrantRow::as_select())
                    .load(conn)
                    .await?;
                Ok::<_, Error>((roles, grants))
            })
            .await
            .map_err(db_error)?;
        Ok(Subject::user(
            user_id,
            roles.into_iter().filter_map(AssignmentRow::read).collect(),
            grants
                .into_iter()
                .filter_map(PermissionGrantRow::read)
                .collect(),
        ))
    }

    async fn insert_role(&self, role: RoleTemplate, audit: AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            diesel::insert_into(roles::table)
                .values(NewRoleRow::of(&role, Some(audit.at)))
                .execute(conn)
                .await?;
            insert_role_permissions(conn, &role.name, &role.permissions).await?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn set_role_permissions(
        &self,
        role: &str,
        permissions: BTreeSet<Permission>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // Locks the role, so a concurrent replacement or deletion waits.
            let found: Option<String> = roles::table
                .find(role)
                .select(roles::name)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            if found.is_none() {
                return Err(Error::NotFound);
            }
            diesel::delete(role_permissions::table.filter(role_permissions::role.eq(role)))
                .execute(conn)
                .await?;
            insert_role_permissions(conn, role, &permissions).await?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    /// Permissions and overrides go by `ON DELETE CASCADE`; assignments (`user_roles`
    /// has no foreign key to `roles`) are deleted here, in the same transaction.
    async fn delete_role(&self, role: &str, audit: AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            touched(
                diesel::delete(roles::table.find(role))
                    .execute(conn)
                    .await?,
            )?;
            diesel::delete(user_roles::table.filter(user_roles::role.eq(role)))
                .execute(conn)
                .await?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn insert_override(&self, o: Override, audit: AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            diesel::insert_into(role_overrides::table)
                .values(OverrideRow::of(&o))
                .execute(conn)
                .await?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn delete_override(&self, id: Uuid, audit: AuditRecord) -> Result<Override, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = conn
            .transaction(async |conn| {
                let row: OverrideRow = diesel::delete(role_overrides::table.find(id))
                    .returning(OverrideRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or(Error::NotFound)?;
                insert_audit(conn, audit).await?;
                Ok::<_, Error>(row)
            })
            .await
            .map_err(rbac_error)?;
        // The CHECK constraints admit only readable rows, unless the permission has
        // since left the catalogue; the override is gone either way.
        row.read().ok_or_else(|| {
            StoreError::Unexpected(format!("override {id} deleted but unreadable").into())
        })
    }

    async fn insert_assignment(
        &self,
        a: RoleAssignment,
        audit: AuditRecord,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            diesel::insert_into(user_roles::table)
                .values(AssignmentRow::of(&a))
                .execute(conn)
                .await?;
            insert_audit(conn, audit).await?;
            record_events(conn, events).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn assignment(&self, id: Uuid) -> Result<Option<RoleAssignment>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row: Option<AssignmentRow> = user_roles::table
            .find(id)
            .select(AssignmentRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.and_then(AssignmentRow::read))
    }

    async fn delete_assignment(&self, id: Uuid, audit: AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            touched(
                diesel::delete(user_roles::table.find(id))
                    .execute(conn)
                    .await?,
            )?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn list_assignments(
        &self,
        filter: GrantFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RoleAssignment>, StoreError> {
        let mut query = user_roles::table.into_boxed();
        if let Some(user) = filter.user_id {
            query = query.filter(user_roles::user_id.eq(user));
        }
        if let Some(scope) = filter.scope {
            query = query.filter(user_roles::scope.eq(scope.to_string()));
        }
        match filter.readable.as_ref().map(ScopeSet::as_text) {
            Some((true, only)) => query = query.filter(user_roles::scope.eq_any(only)),
            Some((false, but)) if !but.is_empty() => {
                query = query.filter(user_roles::scope.ne_all(but));
            }
            _ => {}
        }
        if let Some(after) = after {
            query = query.filter(user_roles::id.gt(after));
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<AssignmentRow> = query
            .order(user_roles::id)
            .limit(i64::from(limit))
            .select(AssignmentRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().filter_map(AssignmentRow::read).collect())
    }

    async fn insert_permission_grant(
        &self,
        g: PermissionGrant,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            diesel::insert_into(permission_grants::table)
                .values(PermissionGrantRow::of(&g))
                .execute(conn)
                .await?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    async fn permission_grant(&self, id: Uuid) -> Result<Option<PermissionGrant>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row: Option<PermissionGrantRow> = permission_grants::table
            .find(id)
            .select(PermissionGrantRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.and_then(PermissionGrantRow::read))
    }

    async fn delete_permission_grant(
        &self,
        id: Uuid,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            touched(
                diesel::delete(permission_grants::table.find(id))
                    .execute(conn)
                    .await?,
            )?;
            insert_audit(conn, audit).await
        })
        .await
        .map_err(rbac_error)
    }

    /// One transaction: both tables are purged or neither, and the count is what went.
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let gone = conn
            .transaction(async |conn| {
                let roles =
                    diesel::delete(user_roles::table.filter(user_roles::expires_at.lt(before)))
                        .execute(conn)
                        .await?;
                let grants = diesel::delete(
                    permission_grants::table.filter(permission_grants::expires_at.lt(before)),
                )
                .execute(conn)
                .await?;
                Ok::<_, Error>(roles + grants)
            })
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }

    async fn append_audit(&self, audit: AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        insert_audit(&mut conn, audit).await.map_err(rbac_error)
    }

    async fn list_audit(
        &self,
        filter: AuditFilter,
        before: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut query = rbac_audit::table.into_boxed();
        if let Some(actor) = filter.actor {
            query = query.filter(rbac_audit::actor.eq(actor));
        }
        if let Some(target) = filter.target {
            query = query.filter(rbac_audit::target.eq(target));
        }
        if let Some(action) = filter.action {
            query = query.filter(rbac_audit::action.eq(action));
        }
        if let Some(scope) = filter.scope {
            query = query.filter(rbac_audit::scope.eq(scope.to_string()));
        }
        if let Some((only, list)) = filter.readable.as_ref().map(ScopeSet::as_text) {
            // a record without a scope (NULL) is a change of the whole platform: global
            let global = list.iter().any(|s| s == "global");
            query = match (only, global) {
                (true, true) => query.filter(
                    rbac_audit::scope
                        .eq_any(list)
                        .or(rbac_audit::scope.is_null()),
                ),
                (true, false) => query.filter(rbac_audit::scope.eq_any(list)),
                (false, true) => query.filter(rbac_audit::scope.ne_all(list)),
                (false, false) if list.is_empty() => query,
                (false, false) => query.filter(
                    rbac_audit::scope
                        .is_null()
                        .or(rbac_audit::scope.ne_all(list)),
                ),
            };
        }
        if let Some(since) = filter.since {
            query = query.filter(rbac_audit::at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(rbac_audit::at.lt(until));
        }
        if let Some(c) = before {
            // A row comparison, which the (at DESC, id DESC) indexes serve directly.
            query = query.filter(
                sql::<Bool>("(rbac_audit.at, rbac_audit.id) < (")
                    .bind::<Timestamptz, _>(c.at)
                    .sql(", ")
                    .bind::<SqlUuid, _>(c.id)
                    .sql(")"),
            );
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<AuditRow> = query
            .order((rbac_audit::at.desc(), rbac_audit::id.desc()))
            .limit(i64::from(limit))
            .select(AuditRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(AuditRow::read).collect()
    }
}
