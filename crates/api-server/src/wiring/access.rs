//! Access control: the RBAC service, loaded and kept in step with every other instance.

use std::sync::Arc;

use domain_core::Clock;
use domain_rbac::RbacService;

use super::shared::Shared;
use super::storage::Storage;
use crate::config::Config;
use crate::startup::StartupError;

/// Feeds invalidations received over Redis to the RBAC service.
struct RbacSink(Arc<RbacService>);

#[async_trait::async_trait]
impl adapter_redis::InvalidationSink for RbacSink {
    async fn apply(&self, message: domain_rbac::Invalidation) {
        if let Err(e) = self.0.apply(message).await {
            tracing::warn!(error = %e, "could not apply an access-control invalidation");
        }
    }

    async fn feed_healthy(&self, healthy: bool) {
        self.0.set_feed_healthy(healthy);
        if healthy {
            // a policy change may have been missed while the feed was down
            if let Err(e) = self.0.reload_policy().await {
                tracing::warn!(error = %e, "could not reload the access-control policy");
            }
        }
    }
}

/// The RBAC service over `storage` and `shared`, its policy loaded; with Redis, a listener
/// applies the invalidations other instances publish.
pub(super) async fn rbac_service(
    config: &Config,
    storage: &Storage,
    shared: &Shared,
    clock: Arc<dyn Clock>,
) -> Result<Arc<RbacService>, StartupError> {
    let rbac = Arc::new(RbacService::new(
        storage.rbac_repo.clone(),
        storage.scopes.clone(),
        shared.subject_cache.clone(),
        shared.bus.clone(),
        clock,
    ));
    rbac.init()
        .await
        .map_err(|e| StartupError::Other(format!("access control: {e}")))?;
    if let Some(url) = &config.redis_url {
        // every instance drops stale in-process grant sets when another changes them
        let sink: Arc<dyn adapter_redis::InvalidationSink> = Arc::new(RbacSink(rbac.clone()));
        let listener = adapter_redis::run_invalidation_listener(
            url.clone(),
            config.redis_prefix.clone(),
            sink,
        );
        tokio::spawn(async move {
            let Err(e) = listener.await;
            tracing::error!(error = %e, "grant invalidation listener stopped; in-process caches stay off");
        });
    }
    Ok(rbac)
}
