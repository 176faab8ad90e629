//! State every instance shares — revocations, attempt counts, grant caches and their
//! invalidations, topics, send rates, presence, unread counts: Redis when `REDIS_URL` is
//! set, process memory (one instance) otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain_identity::{AttemptLimiter, RevocationList};
use domain_notifications::UnreadCounter;
use domain_rbac::{InvalidationBus, SubjectCache};

use super::{Probes, backend};
use crate::config::Config;
use crate::http::state::HealthCheck;
use crate::startup::StartupError;

/// State shared by every instance, in Redis or (single instance) in process.
pub(super) struct Shared {
    pub(super) revocations: Arc<dyn RevocationList>,
    pub(super) limiter: Arc<dyn AttemptLimiter>,
    pub(super) subject_cache: Arc<dyn SubjectCache>,
    pub(super) bus: Arc<dyn InvalidationBus>,
    pub(super) topic_bus: Arc<dyn domain_core::TopicBus>,
    pub(super) rate_limiter: Arc<dyn domain_core::RateLimiter>,
    pub(super) presence: Arc<dyn domain_debates::PresenceStore>,
    pub(super) unread: Arc<dyn UnreadCounter>,
}

struct RedisHealth(adapter_redis::RedisPool);
impl HealthCheck for RedisHealth {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn pool_stats(&self) -> Option<crate::http::metrics::PoolStats> {
        Some(pool_stats!(self.0))
    }
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            adapter_redis::ping(&self.0)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Opens the shared state `config` names, adding its probes to `probes`.
pub(super) async fn open(config: &Config, probes: &mut Probes) -> Result<Shared, StartupError> {
    Ok(match &config.redis_url {
        Some(url) => {
            let pool = adapter_redis::connect_with(
                url,
                Duration::from_millis(config.redis_acquire_timeout_ms),
            )
            .await
            .map_err(backend("Redis"))?;
            probes.health.push(Arc::new(RedisHealth(pool.clone())));
            probes
                .description
                .push("revocations, rate limits and grant caches in Redis");
            let prefix = config.redis_prefix.clone();
            Shared {
                revocations: Arc::new(adapter_redis::RedisRevocationList::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                limiter: Arc::new(adapter_redis::RedisAttemptLimiter::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                subject_cache: Arc::new(adapter_redis::RedisSubjectCache::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                topic_bus: Arc::new(
                    adapter_redis::RedisTopicBus::new(pool.clone(), url, prefix.clone())
                        .map_err(backend("Redis"))?,
                ),
                rate_limiter: Arc::new(adapter_redis::RedisRateLimiter::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                presence: Arc::new(adapter_redis::RedisPresence::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                unread: Arc::new(adapter_redis::RedisUnreadCounter::new(
                    pool.clone(),
                    prefix.clone(),
                )),
                bus: Arc::new(adapter_redis::RedisInvalidationBus::new(pool, prefix)),
            }
        }
        None => {
            probes
                .description
                .push("revocations, rate limits and grant caches in process");
            Shared {
                revocations: Arc::new(adapter_memory::MemoryRevocationList::default()),
                limiter: Arc::new(adapter_memory::MemoryAttemptLimiter::default()),
                subject_cache: Arc::new(adapter_memory::MemorySubjectCache::default()),
                bus: Arc::new(adapter_memory::MemoryInvalidationBus::default()),
                topic_bus: Arc::new(adapter_memory::MemoryTopicBus::default()),
                rate_limiter: Arc::new(adapter_memory::MemoryRateLimiter::default()),
                presence: Arc::new(adapter_memory::MemoryPresence::default()),
                unread: Arc::new(adapter_memory::MemoryUnreadCounter::new()),
            }
        }
    })
}
