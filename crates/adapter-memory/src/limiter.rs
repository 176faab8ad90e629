//! Failure counters in a map: one fixed window per key, opened by its first failure.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain_core::StoreError;
use domain_identity::AttemptLimiter;

use crate::{lock, millis, secs_until};

/// In-process [`AttemptLimiter`]. Windows that have ended are dropped when their key is
/// next touched and swept out whenever the map has grown to twice its size at the last
/// sweep, so a flood of distinct keys cannot grow it without bound.
#[derive(Debug, Default)]
pub struct MemoryAttemptLimiter {
    state: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    windows: HashMap<String, Window>,
    /// Size after the last sweep; the next sweep happens at twice this (or 1024).
    swept_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    ends_at: DateTime<Utc>,
}

impl MemoryAttemptLimiter {
    /// No failures recorded.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Windows {
    /// The window of `key` that is still open at `now`.
    fn open(&self, key: &str, now: DateTime<Utc>) -> Option<Window> {
        self.windows.get(key).copied().filter(|w| w.ends_at > now)
    }

    fn sweep_if_large(&mut self, now: DateTime<Utc>) {
        if self.windows.len() >= (self.swept_len * 2).max(1024) {
            self.windows.retain(|_, w| w.ends_at > now);
            self.swept_len = self.windows.len();
        }
    }
}

/// Longest window honoured (ten years), as in the Redis adapter.
const MAX_WINDOW_SECS: u64 = 10 * 365 * 24 * 3600;

/// When a window opened at `now` ends.
fn window_end(now: DateTime<Utc>, window_secs: u64) -> DateTime<Utc> {
    i64::try_from(window_secs.min(MAX_WINDOW_SECS))
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[async_trait]
impl AttemptLimiter for MemoryAttemptLimiter {
    async fn blocked_for(
        &self,
        key: &str,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let now = millis(now);
        let s = lock(&self.state);
        Ok(s.open(key, now)
            .filter(|w| w.failures >= max_failures)
            .map(|w| secs_until(w.ends_at, now)))
    }

    async fn record_failure(
        &self,
        key: &str,
        window_secs: u64,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let now = millis(now);
        let mut s = lock(&self.state);
        let window = match s.open(key, now) {
            Some(w) => Window {
                failures: w.failures.saturating_add(1),
                ..w
            },
            None => Window {
                failures: 1,
                ends_at: window_end(now, window_secs),
            },
        };
        s.sweep_if_large(now);
        s.windows.insert(key.to_owned(), window);
        Ok(window.failures)
    }

    async fn lock(&self, key: &str, secs: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now = millis(now);
        // a lock is a window already over every limit
        let window = Window {
            failures: u32::MAX,
            ends_at: window_end(now, secs),
        };
        let mut s = lock(&self.state);
        s.sweep_if_large(now);
        s.windows.insert(key.to_owned(), window);
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.state).windows.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn ended_windows_are_swept_out_as_the_map_grows() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let limiter = MemoryAttemptLimiter::new();
        for i in 0..1000 {
            limiter
                .record_failure(&format!("old{i}"), 60, t0)
                .await
                .unwrap();
        }
        let later = t0 + Duration::seconds(61);
        for i in 0..100 {
            limiter
                .record_failure(&format!("new{i}"), 60, later)
                .await
                .unwrap();
        }
        let len = lock(&limiter.state).windows.len();
        assert!(len <= 100, "ended windows were dropped, {len} left");
        assert_eq!(
            limiter.blocked_for("new0", 1, later).await.unwrap(),
            Some(60)
        );
    }

    #[tokio::test]
    async fn absurd_windows_do_not_overflow() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let limiter = MemoryAttemptLimiter::new();
        assert_eq!(limiter.record_failure("k", u64::MAX, t0).await.unwrap(), 1);
        assert!(limiter.blocked_for("k", 1, t0).await.unwrap().is_some());
    }
}
