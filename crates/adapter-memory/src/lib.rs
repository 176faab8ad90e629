//! In-process adapters for every Agora port: the zero-setup embedded mode.
//!
//! Each adapter keeps its state behind a [`std::sync::Mutex`] that is held only for the
//! duration of one port call and never across an `.await`, so the adapters are cheap,
//! thread-safe and cannot deadlock an async runtime. They behave like the PostgreSQL and
//! Redis adapters — the `contract-tests` crate runs one suite against both — including
//! the details a caller could observe, such as timestamps kept to microseconds as
//! PostgreSQL does.
//!
//! State lives only as long as the adapter: nothing is persisted, and separate
//! processes do not share it.

mod analytics;
mod debates;
mod grants;
mod jobs;
mod limiter;
mod moderation;
mod notifications;
mod org;
mod outbox;
mod presence;
mod rate_limit;
mod rbac;
mod rbac_cache;
mod revocation;
mod sessions;
mod topic_bus;
mod users;
mod votes;

pub use debates::MemoryDebateRepository;
pub use grants::MemoryGrantSource;
pub use jobs::MemoryJobQueue;
pub use limiter::MemoryAttemptLimiter;
pub use notifications::{MemoryNotificationStore, MemoryUnreadCounter};
pub use org::MemoryOrgRepository;
pub use outbox::MemoryOutbox;
pub use presence::MemoryPresence;
pub use rate_limit::MemoryRateLimiter;
pub use rbac::MemoryRbacRepository;
pub use rbac_cache::{MemoryInvalidationBus, MemorySubjectCache};
pub use revocation::MemoryRevocationList;
pub use sessions::MemoryLoginSessionRepository;
pub use topic_bus::MemoryTopicBus;
pub use users::MemoryUserRepository;

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, SubsecRound, Utc};

/// Locks `m`, recovering the data if another thread panicked while holding it: every
/// critical section here leaves the state consistent before anything can panic, so a
/// poisoned lock carries no half-done change worth refusing service over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `t` at the precision PostgreSQL's `timestamptz` keeps, so values read back from the
/// memory adapters compare equal to what the PostgreSQL adapters would return.
fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// `t` at the precision the Redis adapters keep (milliseconds), so revocations and
/// attempt windows lapse at exactly the same instant as they do there.
fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Whole seconds from `now` until `until`, rounded up, and at least 1; for "retry after"
/// answers, where 0 would invite an immediate retry that is still refused.
fn secs_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (until - now).num_milliseconds().max(1);
    u64::try_from(ms).map_or(1, |ms| ms.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn seconds_round_up_and_never_reach_zero() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(secs_until(now + Duration::seconds(60), now), 60);
        assert_eq!(secs_until(now + Duration::milliseconds(59_001), now), 60);
        assert_eq!(secs_until(now + Duration::milliseconds(1), now), 1);
        assert_eq!(secs_until(now, now), 1);
        assert_eq!(secs_until(now - Duration::seconds(5), now), 1);
    }

    #[test]
    fn stored_times_keep_microseconds() {
        let t = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
        assert_eq!(stored(t).timestamp_subsec_nanos(), 123_456_000);
    }
}
