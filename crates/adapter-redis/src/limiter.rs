//! Failed-attempt counters in Redis, shared by every instance.

use async_trait::async_trait;
use bb8_redis::redis;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::AttemptLimiter;

use crate::error::{pool_error, redis_error};
use crate::{RedisPool, secs_until};

/// How long past its end a window stays in Redis. Whether a window is open is decided
/// from its stored end and the caller's `now`; the key's expiry only reclaims memory,
/// and the margin keeps it from vanishing early when Redis's clock runs ahead.
const GRACE_MS: i64 = 60_000;

/// Longest window honoured (ten years); keeps the arithmetic far from overflow.
const MAX_WINDOW_SECS: u64 = 10 * 365 * 24 * 3600;

/// Counts one failure in the window stored at `KEYS[1]` (a hash: `failures`, `ends` in ms
/// since the epoch), opening a new window if there is none or it ended by `ARGV[1]`
/// (now). `ARGV[2]`: end of a window opened now; `ARGV[3]`: the key's time to live.
/// A script, so concurrent failures from several instances are all counted and only
/// one of them opens the window.
const RECORD_FAILURE: &str = r"
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends'))
if ends == nil or ends <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'failures', 1, 'ends', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'failures', 1)
";

/// [`AttemptLimiter`] in Redis: one hash per key at `{prefix}attempts:<key>`.
#[derive(Clone)]
pub struct RedisAttemptLimiter {
    pool: RedisPool,
    prefix: String,
}

impl RedisAttemptLimiter {
    /// An adapter using connections from `pool` and keys starting with `prefix`.
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}attempts:{key}", self.prefix)
    }
}

#[async_trait]
impl AttemptLimiter for RedisAttemptLimiter {
    async fn blocked_for(
        &self,
        key: &str,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // i64: a lock stores u32::MAX, which a racing HINCRBY may push one past
        let (failures, ends): (Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.key(key))
            .arg("failures")
            .arg("ends")
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        let now_ms = now.timestamp_millis();
        Ok(match (failures, ends) {
            (Some(failures), Some(ends))
                if ends > now_ms && failures >= i64::from(max_failures) =>
            {
                Some(secs_until(ends, now_ms))
            }
            _ => None,
        })
    }

    async fn record_failure(
        &self,
        key: &str,
        window_secs: u64,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let now_ms = now.timestamp_millis();
        let window_ms = i64::try_from(window_secs.min(MAX_WINDOW_SECS) * 1000).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let failures: i64 = redis::cmd("EVAL")
            .arg(RECORD_FAILURE)
            .arg(1)
            .arg(self.key(key))
            .arg(now_ms)
            .arg(now_ms.saturating_add(window_ms))
            .arg(window_ms.saturating_add(GRACE_MS))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    async fn lock(&self, key: &str, secs: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now_ms = now.timestamp_millis();
        let lock_ms = i64::try_from(secs.min(MAX_WINDOW_SECS) * 1000).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // atomically: a lock is a window already over every limit, with its expiry
        let (): () = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(self.key(key))
            .arg("failures")
            .arg(u32::MAX)
            .arg("ends")
            .arg(now_ms.saturating_add(lock_ms))
            .ignore()
            .cmd("PEXPIRE")
            .arg(self.key(key))
            .arg(lock_ms.saturating_add(GRACE_MS))
            .ignore()
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
