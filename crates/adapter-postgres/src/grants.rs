//! Role grants in the `user_roles` table (the RBAC role assignments, seen from identity).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain_core::StoreError;
use domain_identity::{GrantSource, RoleGrant, UserId};
use domain_rbac::AuditRecord;
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::rbac::{AssignmentRow, insert_audit};
use crate::schema::user_roles;

/// [`GrantSource`] over PostgreSQL.
#[derive(Clone)]
pub struct PgGrantSource {
    pool: PgPool,
}

impl PgGrantSource {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Gives `user` the role `grant` until `expires_at` (`None`: for good). If the user
    /// already holds it, only its expiry changes, to `expires_at`. Either way the
    /// command-line change is recorded in the RBAC audit trail (no actor, action
    /// `grant.create`, target `user:<id>`, request id `cli`, the assignment as `after`),
    /// in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] if there is no such user (foreign key);
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            let row: AssignmentRow = diesel::insert_into(user_roles::table)
                .values((
                    user_roles::user_id.eq(user.0),
                    user_roles::role.eq(&grant.role),
                    user_roles::scope.eq(&grant.scope),
                    user_roles::expires_at.eq(expires_at),
                    user_roles::granted_at.eq(now),
                ))
                .on_conflict((user_roles::user_id, user_roles::role, user_roles::scope))
                .do_update()
                .set(user_roles::expires_at.eq(excluded(user_roles::expires_at)))
                .returning(AssignmentRow::as_returning())
                .get_result(conn)
                .await?;
            insert_audit(conn, cli_audit(&row, now)).await
        })
        .await
        .map_err(db_error)
    }
}

/// The audit record of a grant made through identity (the command line's bootstrap).
fn cli_audit(row: &AssignmentRow, now: DateTime<Utc>) -> AuditRecord {
    AuditRecord {
        id: Uuid::new_v4(),
        at: now,
        actor: None,
        action: "grant.create".into(),
        target: format!("user:{}", row.user_id),
        // Identity's scopes are free text; only the domain's scopes are recorded as such.
        scope: row.scope.parse().ok(),
        before: None,
        // The fields of `domain_rbac::RoleAssignment`, as the RBAC service records them.
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

#[async_trait]
impl GrantSource for PgGrantSource {
    async fn grants_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleGrant>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<(String, String)> = user_roles::table
            .filter(user_roles::user_id.eq(user.0))
            .filter(
                user_roles::expires_at
                    .is_null()
                    .or(user_roles::expires_at.gt(now)),
            )
            .select((user_roles::role, user_roles::scope))
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        let mut grants: Vec<RoleGrant> = rows
            .into_iter()
            .map(|(role, scope)| RoleGrant { role, scope })
            .collect();
        // Sorted here rather than by ORDER BY: byte order, independent of the database's
        // collation, and the same as the in-memory adapter's.
        grants.sort_by(|a, b| (&a.role, &a.scope).cmp(&(&b.role, &b.scope)));
        Ok(grants)
    }

    /// Idempotent (`INSERT … ON CONFLICT`); makes a grant that was set to expire
    /// permanent, so that afterwards the user holds the role whatever the time.
    async fn add_grant(
        &self,
        user: UserId,
        grant: RoleGrant,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_grant_until(user, grant, None, now).await
    }
}
