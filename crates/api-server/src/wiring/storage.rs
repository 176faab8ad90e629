//! The durable stores: PostgreSQL (with its pool's health probe) when `DATABASE_URL` is
//! set, process memory otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain_identity::{GrantSource, LoginSessionRepository, UserRepository};
use domain_notifications::{NotificationStore, PreferenceStore};
use domain_org::OrgRepository;
use domain_rbac::{RbacRepository, ScopeDirectory};

use super::{Probes, backend, migrate};
use crate::config::Config;
use crate::http::state::HealthCheck;
use crate::startup::StartupError;

/// The durable stores, from PostgreSQL or process memory.
pub(super) struct Storage {
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) login_sessions: Arc<dyn LoginSessionRepository>,
    pub(super) grants: Arc<dyn GrantSource>,
    pub(super) rbac_repo: Arc<dyn RbacRepository>,
    pub(super) org_repo: Arc<dyn OrgRepository>,
    pub(super) scopes: Arc<dyn ScopeDirectory>,
    pub(super) debates: Arc<dyn domain_debates::DebateRepository>,
    pub(super) moderation: Arc<dyn domain_debates::ModerationRepository>,
    pub(super) votes: Arc<dyn domain_debates::VoteRepository>,
    pub(super) analytics: Arc<dyn domain_debates::ActivityRollup>,
    pub(super) jobs: Arc<dyn domain_jobs::JobQueue>,
    /// Rung when jobs may have been enqueued (see `WorkerConfig::wake`).
    pub(super) job_wake: Arc<tokio::sync::Notify>,
    pub(super) notification_store: Arc<dyn NotificationStore>,
    pub(super) preference_store: Arc<dyn PreferenceStore>,
}

struct PgHealth(adapter_postgres::PgPool);
impl HealthCheck for PgHealth {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn pool_stats(&self) -> Option<crate::http::metrics::PoolStats> {
        Some(pool_stats!(self.0))
    }
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            adapter_postgres::ping(&self.0)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Opens the stores `config` names, adding their probes to `probes`.
pub(super) async fn open(config: &Config, probes: &mut Probes) -> Result<Storage, StartupError> {
    Ok(match &config.database_url {
        Some(url) => {
            if config.auto_migrate {
                let applied = migrate(url).await?;
                tracing::info!(applied, "database migrations applied");
            }
            let pool = adapter_postgres::connect_with(
                url,
                config.db_pool_size,
                Duration::from_millis(config.db_acquire_timeout_ms),
            )
            .await
            .map_err(backend("PostgreSQL"))?;
            probes.health.push(Arc::new(PgHealth(pool.clone())));
            probes.description.push("accounts in PostgreSQL");
            let org = Arc::new(adapter_postgres::PgOrgRepository::new(pool.clone()));
            // one repository for debates, moderation, votes and their daily roll-up (same
            // tables, same locks)
            let debate_repo = Arc::new(adapter_postgres::PgDebateRepository::new(pool.clone()));
            let notification_store =
                Arc::new(adapter_postgres::PgNotificationStore::new(pool.clone()));
            // workers claim as soon as a committed transaction announces jobs
            let job_wake = Arc::new(tokio::sync::Notify::new());
            tokio::spawn(adapter_postgres::listen_for_jobs(
                url.clone(),
                job_wake.clone(),
            ));
            Storage {
                job_wake,
                notification_store: notification_store.clone(),
                preference_store: notification_store,
                users: Arc::new(adapter_postgres::PgUserRepository::new(pool.clone())),
                jobs: Arc::new(adapter_postgres::PgJobQueue::new(pool.clone())),
                login_sessions: Arc::new(adapter_postgres::PgLoginSessionRepository::new(
                    pool.clone(),
                )),
                grants: Arc::new(adapter_postgres::PgGrantSource::new(pool.clone())),
                rbac_repo: Arc::new(adapter_postgres::PgRbacRepository::new(pool.clone())),
                debates: debate_repo.clone(),
                moderation: debate_repo.clone(),
                votes: debate_repo.clone(),
                analytics: debate_repo,
                org_repo: org.clone(),
                scopes: org,
            }
        }
        None => {
            probes
                .description
                .push("accounts in process memory (lost on exit)");
            // one store for role grants, seen by RBAC decisions and by identity (token
            // claims, /me) alike
            let users = Arc::new(adapter_memory::MemoryUserRepository::default());
            // the queue doubles as the outbox: stores record their events on it
            let queue = Arc::new(adapter_memory::MemoryJobQueue::new());
            let outbox = adapter_memory::MemoryOutbox::new(queue.clone());
            let rbac = Arc::new(
                adapter_memory::MemoryRbacRepository::new(users.clone())
                    .with_outbox(outbox.clone()),
            );
            let org = Arc::new(adapter_memory::MemoryOrgRepository::new(users.clone()));
            // one store for debates, moderation, votes and their daily roll-up: their atomic
            // checks span them, and the roll-up counts their rows
            let debates = Arc::new(
                adapter_memory::MemoryDebateRepository::new(users.clone()).with_outbox(outbox),
            );
            let notification_store =
                Arc::new(adapter_memory::MemoryNotificationStore::new(users.clone()));
            Storage {
                notification_store: notification_store.clone(),
                preference_store: notification_store,
                debates: debates.clone(),
                moderation: debates.clone(),
                votes: debates.clone(),
                analytics: debates,
                users,
                login_sessions: Arc::new(adapter_memory::MemoryLoginSessionRepository::default()),
                job_wake: queue.wakeups(),
                jobs: queue,
                grants: rbac.clone(),
                rbac_repo: rbac,
                org_repo: org.clone(),
                scopes: org,
            }
        }
    })
}
