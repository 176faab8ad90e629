//! Send budgets in Redis, shared by every instance: one theoretical arrival time (TAT)
//! per key, read and advanced by one script.

use async_trait::async_trait;
use bb8_redis::redis;
use chrono::{DateTime, Utc};
use domain_core::rate_limit::epoch_micros;
use domain_core::{Rate, RateDecision, RateLimiter, StoreError};

use crate::error::{pool_error, redis_error};
use crate::{Breaker, RedisPool};

/// How long past its TAT a key stays in Redis. A TAT in the past is as good as no key,
/// so the expiry only reclaims memory; the margin keeps a key from vanishing early (and
/// handing out a fresh burst) when Redis's clock runs ahead of the application's.
const GRACE_MS: i64 = 60_000;

/// One GCRA step (see [`domain_core::rate_limit::gcra`], which this mirrors) on the TAT
/// at `KEYS[1]` (µs since the epoch). `ARGV[1]`: now (µs, the caller's clock);
/// `ARGV[2]`: the rate's interval (µs); `ARGV[3]`: its tolerance (µs); `ARGV[4]`: the
/// grace (ms) the key outlives its TAT by. Answers 0 when the unit was taken, else the
/// microseconds to wait (always ≥ 1); a refusal writes nothing.
///
/// A script, so concurrent calls from several instances are applied one after the
/// other. The numbers stay below 2^53 (callers clamp the spans), where Lua's doubles are
/// exact; the TAT is written with `%d` so it is never stored in exponent notation.
const ACQUIRE: &str = r"
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[2])
local allow_at = new_tat - tonumber(ARGV[3])
if now < allow_at then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%d', new_tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now) / 1000) + tonumber(ARGV[4]))
return 0
";

/// [`RateLimiter`] in Redis: the TAT of each key at `{prefix}rate:<key>`, so every
/// instance using the same Redis and prefix shares each key's budget.
///
/// The script is sent by its SHA1 (`EVALSHA`) and loaded on the first `NOSCRIPT`, so a
/// call is one small round trip. While Redis is down calls fail at once but for a probe
/// now and then (see [`Breaker`]): every send of every user asks, and none should wait
/// [`crate::CHECKOUT_TIMEOUT`] for an answer that will be `Unavailable` anyway.
#[derive(Clone)]
pub struct RedisRateLimiter {
    pool: RedisPool,
    prefix: String,
    script: std::sync::Arc<redis::Script>,
    breaker: Breaker,
}

impl RedisRateLimiter {
    /// An adapter using connections from `pool` and keys starting with `prefix`.
    pub fn new(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            script: std::sync::Arc::new(redis::Script::new(ACQUIRE)),
            breaker: Breaker::default(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}rate:{key}", self.prefix)
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        rate: Rate,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let wait_micros: i64 = self
            .breaker
            .call(async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                self.script
                    .key(self.key(key))
                    .arg(epoch_micros(now))
                    .arg(rate.interval_micros())
                    .arg(rate.tolerance_micros())
                    .arg(GRACE_MS)
                    .invoke_async(&mut *conn)
                    .await
                    .map_err(redis_error)
            })
            .await?;
        // the script answers 0 or a positive wait; nothing else can come back
        Ok(match u64::try_from(wait_micros) {
            Ok(0) | Err(_) => RateDecision::Allowed,
            Ok(micros) => RateDecision::Limited {
                retry_after: std::time::Duration::from_micros(micros),
            },
        })
    }
}

#[cfg(test)]
mod redis_tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::testing::TestRedis;

    async fn pttl(redis: &TestRedis, key: &str) -> i64 {
        let mut conn = redis.pool().get().await.unwrap();
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut *conn)
            .await
            .unwrap()
    }

    async fn get(redis: &TestRedis, key: &str) -> Option<String> {
        let mut conn = redis.pool().get().await.unwrap();
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut *conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_tat_is_stored_exactly_under_the_prefix_and_expires_after_it() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let limiter = RedisRateLimiter::new(redis.pool().clone(), redis.prefix());
        // a time far from any round number, to catch exponent notation or rounding
        let now = Utc.timestamp_opt(1_765_432_109, 987_654_000).unwrap();
        let rate = Rate::new(3.0, 2);
        for _ in 0..2 {
            assert!(
                limiter
                    .acquire("u:s", rate, now)
                    .await
                    .unwrap()
                    .is_allowed()
            );
        }
        let key = format!("{}rate:u:s", redis.prefix());
        let tat = epoch_micros(now) + 2 * 333_333;
        assert_eq!(get(&redis, &key).await, Some(tat.to_string()));
        // the key lives until the TAT (0.67 s after `now`) plus the grace
        let ttl = pttl(&redis, &key).await;
        assert!((GRACE_MS..=GRACE_MS + 667).contains(&ttl), "pttl {ttl}");
        redis.cleanup().await;
    }

    #[tokio::test]
    async fn a_flushed_script_cache_is_reloaded() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let limiter = RedisRateLimiter::new(redis.pool().clone(), redis.prefix());
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rate = Rate::new(1.0, 1);
        assert!(limiter.acquire("k", rate, now).await.unwrap().is_allowed());
        {
            let mut conn = redis.pool().get().await.unwrap();
            let (): () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut *conn)
                .await
                .unwrap();
        }
        let later = now + Duration::milliseconds(10);
        assert_eq!(
            limiter.acquire("k", rate, later).await.unwrap(),
            RateDecision::Limited {
                retry_after: std::time::Duration::from_millis(990)
            }
        );
        redis.cleanup().await;
    }
}
