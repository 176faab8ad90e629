//! Role grants in a map keyed like the `user_roles` table's unique constraint
//! (user, role, scope).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::{GrantSource, RoleGrant, UserId};

use crate::{lock, stored};

/// In-process [`GrantSource`].
#[derive(Debug, Default)]
pub struct MemoryGrantSource {
    state: Mutex<HashMap<(UserId, RoleGrant), Expiry>>,
}

/// When a grant expires; `None`: never.
type Expiry = Option<DateTime<Utc>>;

impl MemoryGrantSource {
    /// No grants.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `user` the role `grant` until `expires_at` (`None`: for good). If the user
    /// already holds it, only its expiry changes, to `expires_at`. (`now` is the grant
    /// time, which only the PostgreSQL adapter records.)
    ///
    /// # Errors
    /// None in memory; the signature matches the PostgreSQL adapter's.
    pub async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.state).insert((user, grant), expires_at.map(stored));
        Ok(())
    }
}

#[async_trait]
impl GrantSource for MemoryGrantSource {
    async fn grants_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleGrant>, StoreError> {
        let mut grants: Vec<RoleGrant> = lock(&self.state)
            .iter()
            .filter(|((u, _), expires_at)| *u == user && expires_at.is_none_or(|e| e > now))
            .map(|((_, g), _)| g.clone())
            .collect();
        // Same order as the PostgreSQL adapter, so tokens carry roles in a stable order.
        grants.sort_by(|a, b| (&a.role, &a.scope).cmp(&(&b.role, &b.scope)));
        Ok(grants)
    }

    /// Idempotent; makes a grant that was set to expire permanent, so that afterwards
    /// the user holds the role whatever the time.
    async fn add_grant(
        &self,
        user: UserId,
        grant: RoleGrant,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_grant_until(user, grant, None, now).await
    }
}
