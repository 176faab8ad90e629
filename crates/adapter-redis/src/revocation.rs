//! Revoked access tokens and sessions as Redis keys that expire when they no longer
//! matter.

use async_trait::async_trait;
use bb8_redis::redis;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::{RevocationList, SessionId};
use uuid::Uuid;

use crate::error::{pool_error, redis_error};
use crate::{Breaker, RedisPool};

/// How long past its `until` an entry stays in Redis. The check compares `until` with
/// the caller's `now`, so the expiry only reclaims memory; the margin keeps an entry
/// from vanishing early when Redis's clock runs ahead of the application's.
const GRACE_MS: i64 = 60_000;

/// Stores `until` (ms since the epoch) under `KEYS[1]` unless a later one is already
/// there — a second revocation never shortens the first — and lets Redis delete the key
/// at `ARGV[2]`. A script, so the compare and the write cannot interleave with another
/// instance's.
const REVOKE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
return 0
";

/// [`RevocationList`] in Redis: `{prefix}revoked:jti:<uuid>` and
/// `{prefix}revoked:sid:<uuid>` hold the instant (ms since the epoch) until which the
/// token or session is refused.
///
/// While Redis is down the check (made on every authenticated request) fails at once but
/// for a probe now and then (see [`Breaker`]), so requests are refused with a 503 without
/// each waiting [`crate::CHECKOUT_TIMEOUT`]; revocations always try Redis.
#[derive(Clone)]
pub struct RedisRevocationList {
    pool: RedisPool,
    prefix: String,
    breaker: Breaker,
}

impl RedisRevocationList {
    /// An adapter using connections from `pool` and keys starting with `prefix`.
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            breaker: Breaker::default(),
        }
    }

    fn token_key(&self, jti: Uuid) -> String {
        format!("{}revoked:jti:{jti}", self.prefix)
    }

    fn session_key(&self, session: SessionId) -> String {
        format!("{}revoked:sid:{session}", self.prefix)
    }

    async fn refuse(&self, key: String, until: DateTime<Utc>) -> Result<(), StoreError> {
        let until_ms = until.timestamp_millis();
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let _: i64 = redis::cmd("EVAL")
            .arg(REVOKE)
            .arg(1)
            .arg(key)
            .arg(until_ms)
            .arg(until_ms.saturating_add(GRACE_MS))
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke_token(&self, jti: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.refuse(self.token_key(jti), until).await
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.refuse(self.session_key(session), until).await
    }

    /// One round trip (`MGET`) for both keys: this runs on every authenticated request.
    async fn is_revoked(
        &self,
        jti: Uuid,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until: Vec<Option<i64>> = self
            .breaker
            .call(async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                redis::cmd("MGET")
                    .arg(self.token_key(jti))
                    .arg(self.session_key(session))
                    .query_async(&mut *conn)
                    .await
                    .map_err(redis_error)
            })
            .await?;
        let now_ms = now.timestamp_millis();
        Ok(until
            .into_iter()
            .flatten()
            .any(|until_ms| until_ms > now_ms))
    }
}
