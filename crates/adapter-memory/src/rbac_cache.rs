//! The RBAC subject cache and invalidation bus in process memory, so the embedded mode
//! is wired like production.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain_core::StoreError;
use domain_rbac::{Invalidation, InvalidationBus, Subject, SubjectCache};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::lock;

/// How often, at most, a `put` sweeps expired entries out. Expired entries are never
/// returned anyway; sweeping only bounds memory.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Longest lifetime honoured (one day), as in the Redis adapter.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// In-process [`SubjectCache`]: a map whose entries expire `ttl_secs` after their `put`,
/// by the monotonic clock (the port's lifetimes are durations, not instants).
#[derive(Debug, Default)]
pub struct MemorySubjectCache {
    state: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    subjects: HashMap<Uuid, (Subject, Instant)>,
    last_sweep: Option<Instant>,
}

impl MemorySubjectCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SubjectCache for MemorySubjectCache {
    async fn get(&self, user_id: Uuid) -> Result<Option<Subject>, StoreError> {
        let now = Instant::now();
        let mut s = lock(&self.state);
        match s.subjects.get(&user_id) {
            Some((subject, expires)) if *expires > now => Ok(Some(subject.clone())),
            Some(_) => {
                s.subjects.remove(&user_id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// A `ttl_secs` of 0 caches nothing (and drops what was cached); lifetimes above a
    /// day are cut to a day.
    async fn put(&self, user_id: Uuid, subject: &Subject, ttl_secs: u64) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut s = lock(&self.state);
        if s.last_sweep.is_none_or(|t| now - t >= SWEEP_EVERY) {
            s.subjects.retain(|_, (_, expires)| *expires > now);
            s.last_sweep = Some(now);
        }
        if ttl_secs == 0 {
            s.subjects.remove(&user_id);
        } else {
            let ttl = Duration::from_secs(ttl_secs).min(MAX_TTL);
            s.subjects.insert(user_id, (subject.clone(), now + ttl));
        }
        Ok(())
    }

    async fn invalidate(&self, user_id: Uuid) -> Result<(), StoreError> {
        lock(&self.state).subjects.remove(&user_id);
        Ok(())
    }
}

/// How many invalidations a slow receiver may fall behind before it misses some.
const BUS_CAPACITY: usize = 1024;

/// In-process [`InvalidationBus`] on a [`broadcast`] channel. In one process every
/// change is already applied locally, so nothing needs to listen; the bus exists so the
/// embedded mode has the same shape as production, and [`subscribe`](Self::subscribe)
/// lets tests (or a future in-process consumer) see what was announced.
#[derive(Debug)]
pub struct MemoryInvalidationBus {
    sender: broadcast::Sender<Invalidation>,
}

impl Default for MemoryInvalidationBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryInvalidationBus {
    /// A bus with no receivers.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(BUS_CAPACITY).0,
        }
    }

    /// A receiver of every invalidation published from now on. A receiver that falls
    /// more than 1024 messages behind gets [`broadcast::error::RecvError::Lagged`]: it
    /// missed some, and must treat everything as changed (as when the Redis feed drops).
    pub fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.sender.subscribe()
    }
}

#[async_trait]
impl InvalidationBus for MemoryInvalidationBus {
    async fn publish(&self, message: Invalidation) -> Result<(), StoreError> {
        // Err only when nobody listens, which is the normal case in one process.
        let _ = self.sender.send(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_entries_are_swept_out() {
        let cache = MemorySubjectCache::new();
        let stale = Uuid::new_v4();
        cache.put(stale, &Subject::anonymous(), 1).await.unwrap();
        // Pretend the entry and the last sweep are old.
        {
            let mut s = lock(&cache.state);
            let long_ago = Instant::now()
                .checked_sub(SWEEP_EVERY + Duration::from_secs(2))
                .unwrap();
            s.subjects.get_mut(&stale).unwrap().1 = long_ago;
            s.last_sweep = Some(long_ago);
        }
        cache
            .put(Uuid::new_v4(), &Subject::anonymous(), 60)
            .await
            .unwrap();
        let s = lock(&cache.state);
        assert_eq!(s.subjects.len(), 1);
        assert!(!s.subjects.contains_key(&stale));
    }

    #[tokio::test]
    async fn subscribers_receive_what_is_published() {
        let bus = MemoryInvalidationBus::new();
        bus.publish(Invalidation::Policy).await.unwrap(); // nobody listens: fine
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        let user_id = Uuid::new_v4();
        bus.publish(Invalidation::User { user_id }).await.unwrap();
        bus.publish(Invalidation::Scopes).await.unwrap();
        for rx in [&mut a, &mut b] {
            assert_eq!(rx.recv().await.unwrap(), Invalidation::User { user_id });
            assert_eq!(rx.recv().await.unwrap(), Invalidation::Scopes);
        }
    }
}
