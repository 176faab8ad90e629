//! Role grants in the `user_roles` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use domain_core::StoreError;
use domain_identity::{GrantSource, RoleGrant, UserId};

use crate::PgPool;
use crate::error::{db_error, pool_error};
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
    /// already holds it, only its expiry changes, to `expires_at`.
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
        diesel::insert_into(user_roles::table)
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
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(())
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
