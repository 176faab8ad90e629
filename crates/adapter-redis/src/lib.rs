//! Redis adapters for Agora's ports that every instance must share at once: the
//! revocation list consulted on each authenticated request, the failed-attempt
//! counters, the RBAC subject cache, and RBAC invalidations over pub/sub (published
//! through the pool, received by an [`InvalidationListener`] on a connection of its own),
//! debate-room frames over pub/sub ([`RedisRoomBus`]), and the unread notification
//! counts ([`RedisUnreadCounter`]).
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
mod revocation;
mod room_bus;
mod subject_cache;
#[cfg(feature = "testing")]
pub mod testing;
mod unread_counter;

pub use invalidation::{
    InvalidationListener, InvalidationSink, RECONNECT_MAX, RECONNECT_MIN, RedisInvalidationBus,
    invalidation_channel, run_invalidation_listener,
};
pub use limiter::RedisAttemptLimiter;
pub use presence::RedisPresence;
pub use revocation::RedisRevocationList;
pub use room_bus::{DEBATE_NAMESPACE, RedisRoomBus, namespaced_channel, room_channel};
pub use subject_cache::RedisSubjectCache;
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

/// How long a caller waits for a pooled connection before getting
/// [`StoreError::Unavailable`], so a dead Redis fails a request quickly instead of
/// hanging it.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds a pool for `url` (`redis://host:port/db`), with a first connection made right
/// away, so a wrong URL or a stopped server shows at startup with its real cause (a pool
/// would retry until [`CHECKOUT_TIMEOUT`] and then only report a timeout).
///
/// # Errors
/// [`StoreError::Unavailable`] when Redis cannot be reached; [`StoreError::Unexpected`]
/// for a malformed URL.
pub async fn connect(url: &str) -> Result<RedisPool, StoreError> {
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
        .connection_timeout(CHECKOUT_TIMEOUT)
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

/// How long a [`Breaker`] skips Redis after a failure.
const BREAKER_OPEN: Duration = Duration::from_secs(2);

/// Remembers that Redis was unreachable a moment ago, for adapters that have another
/// source for what they ask (a cache in front of the database): while open, they skip
/// Redis at once instead of waiting [`CHECKOUT_TIMEOUT`] for it on every call. It opens
/// on an [`StoreError::Unavailable`] and closes by itself [`BREAKER_OPEN`] later (the next
/// call tries Redis again). Wall time, not a domain clock: it only paces retries.
#[derive(Clone, Default)]
pub(crate) struct Breaker {
    open_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Breaker {
    /// `Err(Unavailable)` while open.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let open_until = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        match *open_until {
            Some(until) if std::time::Instant::now() < until => Err(StoreError::Unavailable(
                "redis: unreachable a moment ago; skipped".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Runs `call`; opens the breaker if it finds Redis unavailable.
    pub(crate) async fn observe<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let outcome = call.await;
        if matches!(outcome, Err(StoreError::Unavailable(_))) {
            *self.open_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(std::time::Instant::now() + BREAKER_OPEN);
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
    async fn a_breaker_opens_on_unavailable_only() {
        let b = Breaker::default();
        assert!(b.check().is_ok());
        let _ = b
            .observe(async { Err::<(), _>(StoreError::unexpected("bug")) })
            .await;
        assert!(b.check().is_ok(), "only unavailability opens it");
        let _ = b
            .observe(async { Err::<(), _>(StoreError::Unavailable("down".into())) })
            .await;
        assert!(matches!(b.check(), Err(StoreError::Unavailable(_))));
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
