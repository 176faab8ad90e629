//! Contract of [`GrantSource`].

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain_core::{Clock, StoreError};
use domain_identity::{GrantSource, RoleGrant, UserId, UserRepository};

use crate::{clock, existing_user};

/// Grants with an expiry. The port cannot make them (it only adds permanent grants), but
/// every adapter stores them, so each adapter offers `add_grant_until`; this trait lets
/// the contract reach it.
#[async_trait]
pub trait ExpiringGrants: GrantSource {
    /// Gives `user` the role until `expires_at` (`None`: for good), or changes the expiry
    /// of a grant the user already holds.
    async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl ExpiringGrants for adapter_memory::MemoryGrantSource {
    async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        adapter_memory::MemoryGrantSource::add_grant_until(self, user, grant, expires_at, now).await
    }
}

#[async_trait]
impl ExpiringGrants for adapter_memory::MemoryRbacRepository {
    async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        adapter_memory::MemoryRbacRepository::add_grant_until(self, user, grant, expires_at, now)
            .await
    }
}

#[async_trait]
impl ExpiringGrants for adapter_postgres::PgGrantSource {
    async fn add_grant_until(
        &self,
        user: UserId,
        grant: RoleGrant,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        adapter_postgres::PgGrantSource::add_grant_until(self, user, grant, expires_at, now).await
    }
}

fn grant(role: &str, scope: &str) -> RoleGrant {
    RoleGrant {
        role: role.into(),
        scope: scope.into(),
    }
}

/// Grants are per user, `add_grant` is idempotent, and `grants_of` lists them sorted by
/// role then scope.
pub async fn add_is_idempotent(users: &dyn UserRepository, grants: &dyn GrantSource) {
    let now = clock().now();
    let (user, other) = (
        existing_user(users, now).await,
        existing_user(users, now).await,
    );
    assert!(grants.grants_of(user, now).await.unwrap().is_empty());

    let admin = grant("super_admin", "global");
    grants.add_grant(user, admin.clone(), now).await.unwrap();
    grants.add_grant(user, admin.clone(), now).await.unwrap();
    assert_eq!(
        grants.grants_of(user, now).await.unwrap(),
        vec![admin.clone()]
    );

    let moderator_a = grant("moderator", "institution:a");
    let moderator_b = grant("moderator", "institution:b");
    grants
        .add_grant(user, moderator_b.clone(), now)
        .await
        .unwrap();
    grants
        .add_grant(user, moderator_a.clone(), now)
        .await
        .unwrap();
    assert_eq!(
        grants.grants_of(user, now).await.unwrap(),
        vec![moderator_a.clone(), moderator_b, admin],
        "sorted by role, then scope"
    );

    assert!(
        grants.grants_of(other, now).await.unwrap().is_empty(),
        "per user"
    );
    grants
        .add_grant(other, moderator_a.clone(), now)
        .await
        .unwrap();
    assert_eq!(
        grants.grants_of(other, now).await.unwrap(),
        vec![moderator_a]
    );
    assert!(
        grants
            .grants_of(UserId::new_random(), now)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A grant with an expiry is in force strictly before it; `add_grant` of the same role
/// makes it permanent.
pub async fn expiring_grants(users: &dyn UserRepository, grants: &dyn ExpiringGrants) {
    let clock = clock();
    let now = clock.now();
    let user = existing_user(users, now).await;
    let judge = grant("judge", "debate:1");
    let until = now + Duration::days(7);
    grants
        .add_grant_until(user, judge.clone(), Some(until), now)
        .await
        .unwrap();
    let in_force = async |at| grants.grants_of(user, at).await.unwrap();

    assert_eq!(in_force(now).await, vec![judge.clone()]);
    assert_eq!(
        in_force(until - Duration::seconds(1)).await,
        vec![judge.clone()]
    );
    assert!(in_force(until).await.is_empty(), "expired at `expires_at`");

    // Renewed with a new expiry, then made permanent.
    let renewed = until + Duration::days(7);
    grants
        .add_grant_until(user, judge.clone(), Some(renewed), now)
        .await
        .unwrap();
    assert_eq!(in_force(until).await, vec![judge.clone()]);
    assert!(in_force(renewed).await.is_empty());
    grants.add_grant(user, judge.clone(), now).await.unwrap();
    assert_eq!(in_force(renewed + Duration::days(365)).await, vec![judge]);
}
