//! Users' RBAC grant sets cached in Redis, shared by every instance.

use async_trait::async_trait;
use bb8_redis::redis;
use domain_core::StoreError;
use domain_rbac::{Subject, SubjectCache};
use uuid::Uuid;

use crate::error::{pool_error, redis_error};
use crate::{Breaker, RedisPool};

/// Longest lifetime honoured (one day): an entry is a cache, never the record.
const MAX_TTL_SECS: u64 = 24 * 3600;

/// [`SubjectCache`] in Redis: `{prefix}rbac:subject:<user uuid>` holds the JSON of the
/// user's [`Subject`] and expires after the `ttl_secs` given to `put`.
///
/// A value that no longer decodes (written by another version, or damaged) is treated as
/// absent: `get` logs a warning, deletes it and answers `None`, so the caller reloads the
/// grant set from the database and caches it afresh.
///
/// While Redis is down, reads and fills fail at once but for a probe now and then (see
/// [`Breaker`]): the caller reads the database either way, and waiting
/// [`crate::CHECKOUT_TIMEOUT`] for a cache on every permission check made a request with
/// two checks take over ten seconds. Invalidations always try Redis.
#[derive(Clone)]
pub struct RedisSubjectCache {
    pool: RedisPool,
    prefix: String,
    breaker: Breaker,
}

impl RedisSubjectCache {
    /// An adapter using connections from `pool` and keys starting with `prefix`.
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            breaker: Breaker::default(),
        }
    }

    fn key(&self, user_id: Uuid) -> String {
        format!("{}rbac:subject:{user_id}", self.prefix)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let _: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}

#[async_trait]
impl SubjectCache for RedisSubjectCache {
    async fn get(&self, user_id: Uuid) -> Result<Option<Subject>, StoreError> {
        let key = self.key(user_id);
        let raw: Option<String> = self
            .breaker
            .call(async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut *conn)
                    .await
                    .map_err(redis_error)
            })
            .await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        match serde_json::from_str(&raw) {
            Ok(subject) => Ok(Some(subject)),
            Err(e) => {
                tracing::warn!(%key, error = %e, "undecodable cached grant set; deleting it");
                // Best effort: the caller reloads from the database either way, and the
                // next `put` overwrites the value.
                if let Err(e) = self.delete(&key).await {
                    tracing::warn!(%key, error = %e, "could not delete an undecodable cached grant set");
                }
                Ok(None)
            }
        }
    }

    /// A `ttl_secs` of 0 caches nothing (and drops what was cached); lifetimes above a
    /// day are cut to a day.
    async fn put(&self, user_id: Uuid, subject: &Subject, ttl_secs: u64) -> Result<(), StoreError> {
        let key = self.key(user_id);
        if ttl_secs == 0 {
            return self.delete(&key).await;
        }
        let value = serde_json::to_string(subject).map_err(StoreError::unexpected)?;
        self.breaker
            .call(async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl_secs.min(MAX_TTL_SECS))
                    .query_async::<()>(&mut *conn)
                    .await
                    .map_err(redis_error)
            })
            .await
    }

    async fn invalidate(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.delete(&self.key(user_id)).await
    }
}
