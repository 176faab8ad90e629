//! Unread notification counts in Redis, shared by every instance: one integer per user at
//! `{prefix}notif:unread:{user_id}`.
//!
//! Unlike the other adapters here, this one lets Redis's own expiry decide something: a
//! count is a cache of the notification store, and it is *meant* to be forgotten after
//! [`UNREAD_TTL`], so that a count that drifted from the store (a lost update, a race
//! between a refill and a write) heals on the next read. Only [`set`] starts that period:
//! `INCR`/`DECR` keep a key's expiry, so an active user's count is still re-read from the
//! store once per period.
//!
//! [`set`]: UnreadCounter::set

use std::time::Duration;

use async_trait::async_trait;
use bb8_redis::redis;
use domain_core::StoreError;
use domain_notifications::UnreadCounter;
use uuid::Uuid;

use crate::RedisPool;
use crate::error::{pool_error, redis_error};

/// How long a count set from the store is trusted. An hour bounds how long a drifted
/// badge can be wrong, at the price of one indexed count query per active user per hour.
pub const UNREAD_TTL: Duration = Duration::from_secs(3600);

/// Adds one to the count at `KEYS[1]` if there is one; answers the new count, or -1 when
/// there is none. A script, because `INCR` alone would create a missing key at 1 — a
/// wrong count, not an unknown one.
const INCR: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('INCR', KEYS[1])
";

/// Takes one from the count at `KEYS[1]` if there is one and it is above 0; answers the
/// new count, or -1 when there is none.
const DECR: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]))
if n == nil then return -1 end
if n <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
";

/// [`UnreadCounter`] in Redis (see the module documentation).
#[derive(Clone)]
pub struct RedisUnreadCounter {
    pool: RedisPool,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for RedisUnreadCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUnreadCounter")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisUnreadCounter {
    /// An adapter using connections from `pool` and keys starting with `prefix`, keeping
    /// counts for [`UNREAD_TTL`].
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            ttl: UNREAD_TTL,
        }
    }

    /// The same adapter keeping counts for `ttl` (at least one second) instead.
    pub fn with_ttl(self, ttl: Duration) -> Self {
        Self {
            ttl: ttl.max(Duration::from_secs(1)),
            ..self
        }
    }

    fn key(&self, user: Uuid) -> String {
        format!("{}notif:unread:{user}", self.prefix)
    }

    /// Runs one of the scripts on the user's key; `None` when the count is unknown.
    async fn script(&self, script: &str, user: Uuid) -> Result<Option<u64>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n: i64 = redis::cmd("EVAL")
            .arg(script)
            .arg(1)
            .arg(self.key(user))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(u64::try_from(n).ok())
    }
}

#[async_trait]
impl UnreadCounter for RedisUnreadCounter {
    async fn get(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        redis::cmd("GET")
            .arg(self.key(user))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)
    }

    async fn set(&self, user: Uuid, count: u64) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let () = redis::cmd("SET")
            .arg(self.key(user))
            .arg(count)
            .arg("PX")
            .arg(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn incr(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        self.script(INCR, user).await
    }

    async fn decr(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        self.script(DECR, user).await
    }

    async fn forget(&self, user: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.key(user))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
