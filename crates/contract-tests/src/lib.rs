//! One behaviour contract per Agora port, written once against the port traits and run
//! against every adapter (`tests/contracts.rs`: the in-memory adapters and the
//! PostgreSQL/Redis ones). An adapter is correct when it passes them; two adapters that
//! pass them are interchangeable.
//!
//! Each contract is an `async fn` taking the port(s) as trait objects and panicking on
//! the first broken promise. Contracts create their own uniquely named data, so they
//! also hold on a store that already has rows in it. Time is always passed in, taken
//! from a [`ManualClock`] started at the current second, so
//! expiry is tested without sleeping.

// A test library: failing loudly on the first broken expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod analytics;
pub mod debate_outbox;
pub mod debates;
pub mod grants;
pub mod jobs;
pub mod limiter;
pub mod moderation;
/// The moderation half of [`debate_outbox`], as a module of its own so the harness can
/// give it the moderation store as well.
pub mod moderation_outbox {
    pub use crate::debate_outbox::moderation_actions_record_their_events;
}
pub mod notifications;
pub mod org_repository;
pub mod presence;
pub mod rate_limit;
/// The part of [`rate_limit`] that takes two limiters over one store, as a module of its
/// own so the harness can build the second one.
pub mod rate_limit_shared {
    pub use crate::rate_limit::two_limiters_share_one_budget;
}
pub mod rbac;
pub mod rbac_grants;
pub mod rbac_outbox;
pub mod rbac_startup;
pub mod revocation;
pub mod scope_directory;
pub mod sessions;
pub mod subject_cache;
pub mod topic_bus;
pub mod unread_counter;
pub mod users;
pub mod votes;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use domain_core::{Clock, ManualClock, SystemClock};
use domain_identity::{Email, NewUser, UserId, UserRepository, Username};
use uuid::Uuid;

/// A test clock at the current wall-clock second. Whole seconds keep every timestamp
/// exactly representable by every store; starting near the real time keeps stores whose
/// housekeeping runs on their own clock (Redis key expiry) from discarding entries early.
pub fn clock() -> ManualClock {
    let now = SystemClock.now();
    ManualClock::new(now.duration_trunc(TimeDelta::seconds(1)).unwrap_or(now))
}

/// A short random tag making names unique across contracts and runs.
pub fn tag() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// An account to insert, with a unique username (`<prefix><tag>`) and e-mail.
pub fn new_user(prefix: &str, at: DateTime<Utc>) -> NewUser {
    let tag = tag();
    NewUser {
        id: UserId::new_random(),
        username: Username::parse(&format!("{prefix}{tag}")).unwrap(),
        email: Email::parse(&format!("{prefix}.{tag}@example.org")).unwrap(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${tag}"),
        created_at: at,
    }
}

/// Inserts a fresh account; for contracts of ports that refer to users.
pub async fn existing_user(users: &dyn UserRepository, at: DateTime<Utc>) -> UserId {
    users.insert(new_user("u", at)).await.unwrap().id
}
