//! Redis adapters for Agora's ports that every instance must share at once: the
//! revocation list consulted on each authenticated request, the failed-attempt
//! counters, the RBAC subject cache, and RBAC invalidations over pub/sub (published
//! through the pool, received by an [`InvalidationListener`] on a connection of its own),
//! real-time topic frames over pub/sub ([`RedisTopicBus`]), the unread notification
//! counts ([`RedisUnreadCounter`]), and the send budgets of users ([`RedisRateLimiter`]).
//!
//! Every adapter is built with a key prefix (for example `"agora:"`), so one Redis can
//! serve several deployments, and each test can use a prefix of its own. Times come
//! from the callers' parameters, never from Redis's clock, so the adapters agree with
//! the in-memory ones under a test clock; Redis's own expiry only reclaims memory, or
//! (unread counts) makes a cached value be read from its store again.

mod error;
mod invalidation;
mod limiter;
mod presence;
mod rate_limit;
mod revocation;
mod subject_cache;
#[cfg(feature = "testing")]
pub mod testing;
mod topic_bus;
mod unread_counter;

pub use invalidation::{
    InvalidationListener, InvalidationSink, RECONNECT_MAX, RECONNECT_MIN, RedisInvalidationBus,
    invalidation_channel, run_invalidation_listener,
};
pub use limiter::RedisAttemptLimiter;
pub use presence::RedisPresence;
pub use rate_limit::RedisRateLimiter;
pub use revocation::RedisRevocationList;
pub use subject_cache::RedisSubjectCache;
pub use topic_bus::{RedisTopicBus, topic_channel};
pub use unread_counter::{RedisUnreadCounter, UNREAD_TTL};

use std::time::Duration;

use bb8_redis::{RedisConnectionManager, bb8, redis};
use domain_core::StoreError;

use crate::error::{pool_error, redis_error};

/// A pool of Redis connections. Each is a multiplexed connection, so a few serve many
/// concurrent requests.
pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// Most connections the pool opens.
pub const POOL_SIZE: u32 = 8;

/// How long a caller waits for a pooled connection, by default, before getting
/// [`StoreError::Unavailable`], so a dead Redis fails a request quickly instead of
/// hanging it. `AGORA_REDIS_ACQUIRE_TIMEOUT_MS` changes it ([`connect_with`]).
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds a pool for `url` (`redis://host:port/db`), with a first connection made right
/// away, so a wrong URL or a stopped server shows at startup with its real cause (a pool
/// would retry until [`CHECKOUT_TIMEOUT`] and then only report a timeout).
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached; [`StoreError::Unexpected`]
/// for a malformed URL.
pub async fn connect(url: &str) -> Result<RedisPool, StoreError> {
    connect_with(url, CHECKOUT_TIMEOUT).await
}

/// [`connect`] with the time a caller may wait for a pooled connection.
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<RedisPool, StoreError> {
    let client = redis::Client::open(url).map_err(StoreError::unexpected)?;
    let mut first = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| StoreError::Unavailable(format!("redis: {e}")))?;
    let _: String = redis::cmd("PING")
        .query_async(&mut first)
        .await
        .map_err(redis_error)?;
    let manager = RedisConnectionManager::new(url).map_err(StoreError::unexpected)?;
    let pool = bb8::Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(acquire_timeout)
        .build_unchecked(manager);
    // Refused only if the pool were already full, which a new pool is not.
    let _ = pool.add(first);
    Ok(pool)
}

/// Sends `PING`; for readiness checks.
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached.
pub async fn ping(pool: &RedisPool) -> Result<(), StoreError> {
    let mut conn = pool.get().await.map_err(pool_error)?;
    let _: String = redis::cmd("PING")
        .query_async(&mut *conn)
        .await
        .map_err(redis_error)?;
    Ok(())
}

/// Remembers that Redis was unreachable, so that the calls made on every request (the
/// revocation check, the grant cache) stop waiting [`CHECKOUT_TIMEOUT`] each while it is
/// down. After an [`StoreError::Unavailable`] it opens: calls fail at once with
/// `Unavailable`, except one call (the probe) every [`PROBE_EVERY`], which tries Redis
/// for at most [`PROBE_LIMIT`] (a Redis that is back answers in milliseconds; one that is
/// not would hold the probe for the whole pool checkout). The first call that gets an
/// answer closes it, so recovery is noticed within about [`PROBE_EVERY`] of Redis coming
/// back. A probe that never reports (its request was dropped) is replaced after
/// [`PROBE_TIMEOUT`].
#[derive(Clone)]
pub(crate) struct Breaker {
    state: std::sync::Arc<std::sync::Mutex<BreakerState>>,
    probe_every: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::probing_every(PROBE_EVERY)
    }
}

#[derive(Default)]
struct BreakerState {
    /// While open: when the next probe may go.
    open_until: Option<std::time::Instant>,
    /// When the probe in flight started.
    probing_since: Option<std::time::Instant>,
}

/// How often an open [`Breaker`] lets a call try Redis.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Longest a probe waits for Redis.
const PROBE_LIMIT: Duration = Duration::from_secs(1);
/// After this long a probe counts as lost and another call may try Redis.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Breaker {
    /// A breaker that, once open, probes every `probe_every`.
    pub(crate) fn probing_every(probe_every: Duration) -> Self {
        Self {
            state: std::sync::Arc::default(),
            probe_every,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `call`, unless the breaker is open and it is not yet time for a probe (or a
    /// probe is in flight): then fails at once with [`StoreError::Unavailable`].
    pub(crate) async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let probe = {
            let mut state = self.state();
            if let Some(until) = state.open_until {
                let now = std::time::Instant::now();
                let probing = state
                    .probing_since
                    .is_some_and(|since| now.duration_since(since) < PROBE_TIMEOUT);
                if probing || now < until {
                    return Err(StoreError::Unavailable(
                        "redis: unreachable a moment ago (checked again shortly)".into(),
                    ));
                }
                state.probing_since = Some(now);
                true
            } else {
                false
            }
        };
        let outcome = if probe {
            tokio::time::timeout(PROBE_LIMIT, call)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "redis: no answer within {PROBE_LIMIT:?}"
                    )))
                })
        } else {
            call.await
        };
        let mut state = self.state();
        state.open_until = match &outcome {
            Err(StoreError::Unavailable(_)) => Some(std::time::Instant::now() + self.probe_every),
            // an answer, even an unexpected one, means Redis is there
            _ => None,
        };
        // only the probe ends the probe (a call that began before the breaker opened
        // may finish during it)
        if probe {
            state.probing_since = None;
        }
        outcome
    }
}

/// Whole seconds from `now_ms` until `until_ms`, rounded up, and at least 1; for "retry
/// after" answers, where 0 would invite an immediate retry that is still refused.
fn secs_until(until_ms: i64, now_ms: i64) -> u64 {
    let ms = until_ms.saturating_sub(now_ms).max(1);
    u64::try_from(ms).map_or(1, |ms| ms.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_open_breaker_fails_fast_until_its_probe_time() {
        let b = Breaker::default();
        let _ = b
            .call(async { Err::<(), _>(StoreError::unexpected(std::fmt::Error)) })
            .await;
        assert!(
            b.call(async { Ok(()) }).await.is_ok(),
            "only unavailability opens it"
        );
        let down = b.call(async { Err::<(), _>(StoreError::Unavailable("down".into())) });
        assert!(down.await.is_err());
        let mut ran = false;
        let skipped = b
            .call(async {
                ran = true;
                Ok(())
            })
            .await;
        assert!(matches!(skipped, Err(StoreError::Unavailable(_))) && !ran);
    }

    #[tokio::test]
    async fn an_open_breaker_lets_one_probe_through_and_closes_on_an_answer() {
        let b = Breaker::probing_every(Duration::ZERO);
        let down = b.call(async { Err::<(), _>(StoreError::Unavailable("down".into())) });
        assert!(down.await.is_err());
        // time for a probe: it is let through; while it waits, others fail at once
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let probe = {
            let b = b.clone();
            tokio::spawn(async move {
                b.call(async { wait.await.map_err(StoreError::unexpected) })
                    .await
            })
        };
        while b.state().probing_since.is_none() {
            tokio::task::yield_now().await;
        }
        let mut ran = false;
        let skipped = b
            .call(async {
                ran = true;
                Ok(())
            })
            .await;
        assert!(matches!(skipped, Err(StoreError::Unavailable(_))) && !ran);
        let _ = release.send(());
        assert!(probe.await.is_ok_and(|r| r.is_ok()));
        // the probe's answer closed it
        assert!(b.state().open_until.is_none());
        assert!(b.call(async { Ok(()) }).await.is_ok());
    }

    #[test]
    fn seconds_round_up_and_never_reach_zero() {
        assert_eq!(secs_until(60_000, 0), 60);
        assert_eq!(secs_until(59_001, 0), 60);
        assert_eq!(secs_until(1, 0), 1);
        assert_eq!(secs_until(0, 0), 1);
        assert_eq!(secs_until(0, 5_000), 1);
    }
}
