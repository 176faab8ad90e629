//! Revoked access tokens and sessions in a map, each entry kept until its `until`.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain_core::StoreError;
use domain_identity::{RevocationList, SessionId};
use uuid::Uuid;

use crate::{lock, millis};

/// How often, in the time passed to [`RevocationList::is_revoked`], expired entries are
/// swept out. Sweeping on every call would make each authenticated request pay for the
/// whole map; expired entries are ignored by the check anyway, so sweeping only bounds
/// memory.
const SWEEP_EVERY: Duration = Duration::seconds(60);

/// How long past its `until` an entry is kept. Callers' clocks differ a little, so one
/// may still ask about a time before `until` after another has seen it lapse; the Redis
/// adapter keeps its keys this long too.
const GRACE: Duration = Duration::seconds(60);

/// In-process [`RevocationList`]. Entries expire at their `until` and are purged lazily.
#[derive(Debug, Default)]
pub struct MemoryRevocationList {
    state: Mutex<Revocations>,
}

#[derive(Debug, Default)]
struct Revocations {
    entries: HashMap<Entry, DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Entry {
    Token(Uuid),
    Session(SessionId),
}

impl MemoryRevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn refuse(&self, entry: Entry, until: DateTime<Utc>) {
        let until = millis(until);
        let mut s = lock(&self.state);
        // A second revocation never shortens the first: a session revoked until 10:15
        // stays revoked until then even if it is revoked again "until 10:05".
        let slot = s.entries.entry(entry).or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke_token(&self, jti: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.refuse(Entry::Token(jti), until);
        Ok(())
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.refuse(Entry::Session(session), until);
        Ok(())
    }

    async fn is_revoked(
        &self,
        jti: Uuid,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = millis(now);
        let mut s = lock(&self.state);
        if s.last_sweep.is_none_or(|t| now - t >= SWEEP_EVERY) {
            s.entries.retain(|_, until| *until + GRACE > now);
            s.last_sweep = Some(now);
        }
        let refused = |e: Entry| s.entries.get(&e).is_some_and(|until| *until > now);
        Ok(refused(Entry::Token(jti)) || refused(Entry::Session(session)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn lapsed_entries_are_swept_out() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let list = MemoryRevocationList::new();
        for _ in 0..100 {
            list.revoke_token(Uuid::new_v4(), t0 + Duration::seconds(10))
                .await
                .unwrap();
        }
        let kept = SessionId::new_random();
        list.revoke_session(kept, t0 + Duration::hours(1))
            .await
            .unwrap();
        let probe = (Uuid::new_v4(), SessionId::new_random());
        assert!(!list.is_revoked(probe.0, probe.1, t0).await.unwrap());
        assert_eq!(lock(&list.state).entries.len(), 101, "nothing lapsed yet");

        // Past `until` + grace, and a sweep period after the last sweep.
        let later = t0 + Duration::seconds(10) + GRACE + SWEEP_EVERY;
        assert!(list.is_revoked(probe.0, kept, later).await.unwrap());
        assert_eq!(
            lock(&list.state).entries.len(),
            1,
            "only the live entry is left"
        );
    }
}
