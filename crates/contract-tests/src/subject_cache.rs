//! Contract of [`SubjectCache`].
//!
//! Lifetimes are durations kept by the store's own clock, so expiry is tested in real
//! time, with a one-second lifetime, looked at until it is gone.

use std::time::Duration;

use chrono::TimeDelta;
use domain_core::Clock;
use domain_rbac::{
    Action, PermissionGrant, ResourceType, RoleAssignment, Scope, Subject, SubjectCache, perm,
};
use uuid::Uuid;

use crate::clock;

/// A user's grant set with one of everything: scopes of each kind, expiring and
/// permanent grants, bootstrap and granted ones, sub-second timestamps.
pub fn sample_subject(user_id: Uuid) -> Subject {
    let now = clock().now() + TimeDelta::microseconds(123_456);
    let role = |role: &str, scope, expires_at, granted_by| RoleAssignment {
        id: Uuid::new_v4(),
        user_id,
        role: role.to_owned(),
        scope,
        expires_at,
        granted_by,
        granted_at: now,
    };
    Subject::user(
        user_id,
        vec![
            role("student", Scope::Global, None, None),
            role(
                "teacher",
                Scope::Department(Uuid::new_v4()),
                Some(now + TimeDelta::days(30)),
                Some(Uuid::new_v4()),
            ),
            role(
                "campus_admin",
                Scope::Campus(Uuid::new_v4()),
                None,
                Some(Uuid::new_v4()),
            ),
        ],
        vec![PermissionGrant {
            id: Uuid::new_v4(),
            user_id,
            permission: perm(ResourceType::DebateSession, Action::Create),
            scope: Scope::Institution(Uuid::new_v4()),
            expires_at: Some(now + TimeDelta::hours(2)),
            granted_by: Some(Uuid::new_v4()),
            granted_at: now,
        }],
    )
}

/// What is put is got back equal, per user; a second put replaces the first.
pub async fn put_and_get(cache: &dyn SubjectCache) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(cache.get(alice).await.unwrap(), None, "nothing cached yet");

    let subject = sample_subject(alice);
    cache.put(alice, &subject, 60).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), Some(subject));
    assert_eq!(cache.get(bob).await.unwrap(), None, "per user");

    let empty = Subject::user(alice, vec![], vec![]);
    cache.put(alice, &empty, 60).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), Some(empty), "replaced");

    let bobs = sample_subject(bob);
    cache.put(bob, &bobs, 60).await.unwrap();
    assert_eq!(cache.get(bob).await.unwrap(), Some(bobs));
}

/// Invalidating drops one user's entry and nothing else; invalidating what is not
/// cached is harmless.
pub async fn invalidate_drops_one_user(cache: &dyn SubjectCache) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b) = (sample_subject(alice), sample_subject(bob));
    cache.put(alice, &a, 60).await.unwrap();
    cache.put(bob, &b, 60).await.unwrap();

    cache.invalidate(alice).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), None);
    assert_eq!(cache.get(bob).await.unwrap(), Some(b), "others kept");

    cache.invalidate(alice).await.unwrap();
    cache.invalidate(Uuid::new_v4()).await.unwrap();

    cache.put(alice, &a, 60).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), Some(a), "cacheable again");
}

/// An entry is gone once its lifetime has passed; a lifetime of 0 caches nothing and
/// drops what was cached.
pub async fn entries_expire(cache: &dyn SubjectCache) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let a = sample_subject(alice);
    cache.put(alice, &a, 1).await.unwrap();
    cache.put(bob, &sample_subject(bob), 60).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), Some(a.clone()));

    cache.put(bob, &sample_subject(bob), 0).await.unwrap();
    assert_eq!(cache.get(bob).await.unwrap(), None, "ttl 0 caches nothing");

    // The lifetime runs on the store's own clock (Redis expiry is real time), in whole
    // seconds: look often rather than sleep past it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cache.get(alice).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a 1 s entry still there after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A put after expiry starts a new lifetime.
    cache.put(alice, &a, 60).await.unwrap();
    assert_eq!(cache.get(alice).await.unwrap(), Some(a));
}
