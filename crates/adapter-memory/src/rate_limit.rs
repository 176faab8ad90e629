//! Send budgets in process memory: one theoretical arrival time per key, in shards.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::rate_limit::{epoch_micros, gcra};
use domain_core::{Rate, RateDecision, RateLimiter, StoreError};

use crate::lock;

/// Shards of the map. Every send of every user goes through here, so one lock for all
/// keys would serialise unrelated users; sixteen is plenty for the cores of one server.
const SHARDS: usize = 16;

/// Smallest shard size at which a shard is swept.
const SWEEP_MIN: usize = 64;

/// In-process [`RateLimiter`] for the embedded mode, where one process is every
/// instance. Clones share the budgets (they are the same store).
///
/// A key whose TAT has passed has its whole budget back, exactly as if it were absent,
/// so such entries are dropped: a shard is swept whenever it has grown to twice its size
/// after the last sweep, so a flood of distinct keys cannot grow memory without bound
/// and the cost of sweeping stays constant per call.
#[derive(Debug, Clone)]
pub struct MemoryRateLimiter {
    shards: Arc<[Mutex<Shard>]>,
}

#[derive(Debug, Default)]
struct Shard {
    /// Theoretical arrival time per key, in µs since the epoch.
    tats: HashMap<String, i64>,
    /// Size after the last sweep; the next sweep happens at twice this (or [`SWEEP_MIN`]).
    swept_len: usize,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// Every key with its whole budget.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        // a fixed hasher: the keys are the server's own (user and session ids), and a
        // stable spread keeps the sweep test deterministic
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Entries currently kept, over all shards.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).tats.len()).sum()
    }
}

impl Shard {
    fn sweep_if_large(&mut self, now: i64) {
        if self.tats.len() >= (self.swept_len * 2).max(SWEEP_MIN) {
            self.tats.retain(|_, tat| *tat > now);
            self.swept_len = self.tats.len();
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        rate: Rate,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let now = epoch_micros(now);
        let mut shard = lock(self.shard(key));
        let step = gcra(shard.tats.get(key).copied(), now, rate);
        if let Some(tat) = step.new_tat {
            shard.sweep_if_large(now);
            match shard.tats.get_mut(key) {
                Some(stored) => *stored = tat,
                None => {
                    shard.tats.insert(key.to_owned(), tat);
                }
            }
        }
        Ok(step.decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[tokio::test]
    async fn keys_whose_budget_is_full_again_are_swept_out_as_the_map_grows() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rate = Rate::new(1.0, 5);
        let limiter = MemoryRateLimiter::new();
        for i in 0..1000 {
            let d = limiter.acquire(&format!("old{i}"), rate, t0).await.unwrap();
            assert!(d.is_allowed());
        }
        assert_eq!(limiter.len(), 1000, "nothing is dropped while it matters");
        // one second later every old key has its whole budget back
        let later = t0 + Duration::seconds(1);
        for i in 0..3000 {
            let d = limiter
                .acquire(&format!("new{i}"), rate, later)
                .await
                .unwrap();
            assert!(d.is_allowed());
        }
        let len = limiter.len();
        assert!(len <= 3000, "the old keys were dropped, {len} left");
        // and forgetting them changed no answer
        for i in 0..5 {
            let d = limiter.acquire("old0", rate, later).await.unwrap();
            assert!(d.is_allowed(), "old0 has its burst back ({i})");
        }
        assert!(
            !limiter
                .acquire("old0", rate, later)
                .await
                .unwrap()
                .is_allowed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn threads_racing_on_one_key_share_its_burst_exactly() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let limiter = MemoryRateLimiter::new();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire("k", Rate::new(5.0, 10), t0).await })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap().unwrap().is_allowed() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
    }

    #[tokio::test]
    async fn refused_calls_store_nothing() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let limiter = MemoryRateLimiter::new();
        let rate = Rate::new(1.0, 1);
        assert!(limiter.acquire("k", rate, t0).await.unwrap().is_allowed());
        for _ in 0..10 {
            assert!(!limiter.acquire("k", rate, t0).await.unwrap().is_allowed());
        }
        assert_eq!(limiter.len(), 1);
    }
}
