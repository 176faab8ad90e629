//! Picks the adapters for each port from the configuration and builds the domain
//! services: in-memory when nothing is configured, PostgreSQL and Redis otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain_core::{Clock, NullEventPublisher, SystemClock};
use domain_identity::{
    Argon2Hasher, AttemptLimiter, AuthConfig, AuthPorts, AuthService, GrantSource, LoginLimits,
    Pacer, PasswordPolicy, RegistrationLimits, RevocationList, SessionRepository, TokenCodec,
    TokenSettings, UserRepository,
};

use domain_notifications::{
    NotificationService, NotificationStore, PreferenceStore, UnreadCounter,
};
use domain_org::{OrgRepository, OrgService};
use domain_rbac::{InvalidationBus, RbacRepository, RbacService, ScopeDirectory, SubjectCache};

use crate::config::Config;
use crate::http::state::HealthCheck;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A backing service could not be reached or prepared.
    #[error("{service}: {message}")]
    Backend {
        /// `PostgreSQL` or `Redis`.
        service: &'static str,
        /// What failed.
        message: String,
    },
    /// Anything else (binding the port, …).
    #[error("{0}")]
    Other(String),
}

/// The services built for a configuration.
pub struct Backends {
    /// Accounts and authentication.
    pub auth: AuthService,
    /// Access control.
    pub rbac: Arc<RbacService>,
    /// Organisations.
    pub org: OrgService,
    /// Debates.
    pub debates: domain_debates::DebateService,
    /// Moderation of debate sessions.
    pub moderation: domain_debates::ModerationService,
    /// Votes on closed sessions.
    pub voting: domain_debates::VotingService,
    /// The daily activity roll-up of debates and its reads.
    pub analytics: domain_debates::AnalyticsService,
    /// Fan-out of every real-time topic: Redis pub/sub, or in process.
    pub topic_bus: Arc<dyn domain_core::TopicBus>,
    /// Send rates shared by every instance: Redis, or in process.
    pub rate_limiter: Arc<dyn domain_core::RateLimiter>,
    /// Who is connected to which room: Redis with expiry, or in process.
    pub presence: Arc<dyn domain_debates::PresenceStore>,
    /// The users' notifications.
    pub notifications: NotificationService,
    /// What recorded domain events set off: the handlers of `events.dispatch` and of
    /// the jobs reactions schedule.
    pub reactions: crate::reactions::Reactions,
    /// Rung when jobs may have been enqueued: PostgreSQL `LISTEN agora_jobs`, or the
    /// memory queue itself.
    pub job_wake: Arc<tokio::sync::Notify>,
    /// Background jobs: the PostgreSQL queue (jobs survive restarts and are shared by
    /// every worker), or in process.
    pub jobs: Arc<dyn domain_jobs::JobQueue>,
    /// Where e-mails go: SMTP when `SMTP_URL` is set, the log otherwise.
    pub mailer: Arc<dyn domain_notifications::Mailer>,
    /// Accounts, for jobs that need a user's address.
    pub user_store: Arc<dyn UserRepository>,
    /// Login sessions, for the job that purges ended ones.
    pub session_store: Arc<dyn SessionRepository>,
    /// The clock every service reads.
    pub clock: Arc<dyn Clock>,
    /// Probes for `/readyz`.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// One line describing where data lives, logged at startup.
    pub storage_description: String,
}

/// Holds failed logins back on the runtime's timer: the task waits, no thread does.
struct TokioPacer;

#[async_trait::async_trait]
impl Pacer for TokioPacer {
    async fn pause(&self, delay: std::time::Duration) {
        tokio::time::sleep(delay).await;
    }
}

/// bb8's own counts of a pool: its waits are measured without touching each place the
/// adapters take a connection. (A macro: the two pools' `State` is bb8's type, which
/// this crate does not name.)
macro_rules! pool_stats {
    ($pool:expr) => {{
        let state = $pool.state();
        let s = state.statistics;
        crate::http::metrics::PoolStats {
            connections: state.connections,
            idle: state.idle_connections,
            pending: s.pending_gets(),
            waited: s.get_waited,
            wait_time: s.get_wait_time,
            timed_out: s.get_timed_out,
        }
    }};
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

fn backend(service: &'static str) -> impl Fn(domain_core::StoreError) -> StartupError {
    move |e| StartupError::Backend {
        service,
        message: e.to_string(),
    }
}

/// Connects to PostgreSQL and applies pending migrations; used by `serve` and `migrate`.
///
/// # Errors
/// [`StartupError::Backend`] when the database cannot be reached or a migration fails.
pub async fn migrate(database_url: &str) -> Result<usize, StartupError> {
    adapter_postgres::run_migrations(database_url)
        .await
        .map_err(backend("PostgreSQL"))
}

/// The JWT signing key: configured, or (development only) a random per-process one, the
/// only key used without the strength checks since the process made it itself.
fn signing_key(config: &Config) -> Result<Vec<u8>, StartupError> {
    // a configured key passed `weak_secret_reason` in `Config` (in every environment)
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let mut key = vec![0u8; 48];
    getrandom::fill(&mut key).map_err(|e| StartupError::Other(format!("random source: {e}")))?;
    tracing::warn!(
        "AGORA_JWT_SECRET is not set: using a random key for this process. Tokens will not \
         survive a restart and other instances will not accept them; set AGORA_JWT_SECRET."
    );
    Ok(key)
}

/// The durable stores, from PostgreSQL or process memory.
struct Storage {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    grants: Arc<dyn GrantSource>,
    rbac_repo: Arc<dyn RbacRepository>,
    org_repo: Arc<dyn OrgRepository>,
    scopes: Arc<dyn ScopeDirectory>,
    debates: Arc<dyn domain_debates::DebateRepository>,
    moderation: Arc<dyn domain_debates::ModerationRepository>,
    votes: Arc<dyn domain_debates::VoteRepository>,
    analytics: Arc<dyn domain_debates::ActivityRollup>,
    jobs: Arc<dyn domain_jobs::JobQueue>,
    /// Rung when jobs may have been enqueued (see `WorkerConfig::wake`).
    job_wake: Arc<tokio::sync::Notify>,
    notification_store: Arc<dyn NotificationStore>,
    preference_store: Arc<dyn PreferenceStore>,
}

/// State shared by every instance, in Redis or (single instance) in process.
struct Shared {
    revocations: Arc<dyn RevocationList>,
    limiter: Arc<dyn AttemptLimiter>,
    subject_cache: Arc<dyn SubjectCache>,
    bus: Arc<dyn InvalidationBus>,
    topic_bus: Arc<dyn domain_core::TopicBus>,
    rate_limiter: Arc<dyn domain_core::RateLimiter>,
    presence: Arc<dyn domain_debates::PresenceStore>,
    unread: Arc<dyn UnreadCounter>,
}

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

/// Creates the configured first administrator unless the username exists already.
async fn bootstrap_admin(
    auth: &AuthService,
    admin: &crate::config::BootstrapAdmin,
) -> Result<(), StartupError> {
    match auth
        .create_admin(&admin.username, &admin.email, &admin.password)
        .await
    {
        Ok(user) => {
            tracing::info!(username = %admin.username, user_id = %user.id, "bootstrap administrator created");
            Ok(())
        }
        Err(domain_identity::IdentityError::Taken(_)) => Ok(()),
        // configuration checks the same rules first; this names the field should they differ
        Err(domain_identity::IdentityError::Validation(fields)) => {
            let rules: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect();
            Err(StartupError::Other(format!(
                "AGORA_BOOTSTRAP_ADMIN: expected username:email with AGORA_BOOTSTRAP_ADMIN_PASSWORD \
                 following the account rules: {}",
                rules.join("; ")
            )))
        }
        Err(e) => Err(StartupError::Other(format!("AGORA_BOOTSTRAP_ADMIN: {e}"))),
    }
}

/// Builds every service for `config`.
///
/// # Errors
/// [`StartupError`] when a configured backend cannot be reached or prepared.
pub async fn build(config: &Config) -> Result<Backends, StartupError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut health: Vec<Arc<dyn HealthCheck>> = Vec::new();
    let mut description = Vec::new();

    let Storage {
        debates: debate_repo,
        jobs,
        job_wake,
        moderation: moderation_repo,
        votes: vote_repo,
        analytics: analytics_repo,
        users,
        sessions,
        grants,
        rbac_repo,
        org_repo,
        scopes,
        notification_store,
        preference_store,
    } = match &config.database_url {
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
            health.push(Arc::new(PgHealth(pool.clone())));
            description.push("accounts in PostgreSQL");
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
                sessions: Arc::new(adapter_postgres::PgSessionRepository::new(pool.clone())),
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
            description.push("accounts in process memory (lost on exit)");
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
                sessions: Arc::new(adapter_memory::MemorySessionRepository::default()),
                job_wake: queue.wakeups(),
                jobs: queue,
                grants: rbac.clone(),
                rbac_repo: rbac,
                org_repo: org.clone(),
                scopes: org,
            }
        }
    };

    let Shared {
        revocations,
        limiter,
        subject_cache,
        bus,
        topic_bus,
        rate_limiter,
        presence,
        unread,
    } = match &config.redis_url {
        Some(url) => {
            let pool = adapter_redis::connect_with(
                url,
                Duration::from_millis(config.redis_acquire_timeout_ms),
            )
            .await
            .map_err(backend("Redis"))?;
            health.push(Arc::new(RedisHealth(pool.clone())));
            description.push("revocations, rate limits and grant caches in Redis");
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
            description.push("revocations, rate limits and grant caches in process");
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
    };

    let mailer = crate::jobs::mailer(config)?;
    let hasher = Argon2Hasher::owasp().map_err(|e| StartupError::Other(e.to_string()))?;
    let codec = TokenCodec::new(TokenSettings {
        secret: signing_key(config)?,
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        access_ttl_secs: config.access_ttl_secs,
    });
    let auth_config = AuthConfig {
        refresh_ttl_secs: config.refresh_ttl_secs,
        login: LoginLimits {
            per_pair: config.login_max_failures,
            per_client: config.login_max_failures_per_client,
            window_secs: config.login_window_secs,
            lockout_max_secs: config.login_lockout_max_secs,
            slow_after: config.login_slow_after,
            account_ceiling: config.login_account_ceiling,
            max_delay_ms: config.login_max_delay_ms,
        },
        registration: RegistrationLimits {
            per_client: config.register_max_per_client,
            window_secs: config.register_window_secs,
        },
        policy: PasswordPolicy::default(),
    };
    let auth = AuthService::new(
        AuthPorts {
            users: users.clone(),
            sessions: sessions.clone(),
            revocations,
            limiter,
            pacer: Arc::new(TokioPacer),
            grants,
            hasher: Arc::new(hasher),
            events: Arc::new(NullEventPublisher),
            clock: clock.clone(),
        },
        codec,
        auth_config,
    );
    let rbac = Arc::new(RbacService::new(
        rbac_repo,
        scopes,
        subject_cache,
        bus,
        clock.clone(),
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
    // The one publish path: committed events become frames on the topic bus.
    let projector = crate::realtime::Projector::new(topic_bus.clone(), notification_store.clone());
    let debates = domain_debates::DebateService::new(debate_repo.clone(), clock.clone())
        .with_events(Arc::new(projector.clone()));
    let notifications = NotificationService::new(
        notification_store.clone(),
        preference_store,
        unread,
        clock.clone(),
        Arc::new(projector.clone()),
    );
    let moderation =
        domain_debates::ModerationService::new(debate_repo.clone(), moderation_repo, clock.clone())
            .with_events(Arc::new(projector.clone()));
    let voting = domain_debates::VotingService::new(
        debate_repo,
        vote_repo,
        Arc::new(projector.clone()),
        clock.clone(),
    );
    projector.read_tallies_from(voting.clone());
    let analytics = domain_debates::AnalyticsService::new(analytics_repo, clock.clone());
    let org = OrgService::new(org_repo, clock.clone());
    // What the recorded events set off, run by the job worker (see `crate::reactions`).
    let reactions = crate::reactions::Reactions::new(crate::reactions::ReactionDeps {
        notifier: crate::reactions::Notifier::new(notifications.clone()).with_email(
            crate::jobs::EmailOutbox::new(jobs.clone(), users.clone(), clock.clone()),
        ),
        debates: debates.clone(),
        voting: voting.clone(),
        org: org.clone(),
        queue: jobs.clone(),
        clock: clock.clone(),
    });
    if let Some(admin) = &config.bootstrap_admin {
        bootstrap_admin(&auth, admin).await?;
    }
    // Pay for the decoy hash now rather than in the first failed login (timing equality).
    auth.warm_up()
        .await
        .map_err(|e| StartupError::Other(e.to_string()))?;
    Ok(Backends {
        auth,
        rbac,
        org,
        debates,
        moderation,
        voting,
        analytics,
        topic_bus,
        rate_limiter,
        presence,
        notifications,
        reactions,
        job_wake,
        jobs,
        mailer,
        user_store: users,
        session_store: sessions,
        clock,
        health,
        storage_description: description.join("; "),
    })
}

/// Hands an e-mail to the mailer without holding up the caller: the hook through which
/// reactions to domain events send e-mail. `dedupe_key` is the notification's, so that a
/// reaction run twice sends one e-mail.
///
/// Only the fallback of reactions built without a [`crate::jobs::EmailOutbox`]: it logs
/// the recipient and the subject (never the body, which may quote private text, nor any
/// token). `build` gives the reactions an outbox, which enqueues an `email.send` job.
pub async fn enqueue_email(user: uuid::Uuid, subject: &str, body: &str, dedupe_key: &str) {
    let _ = (body, dedupe_key);
    tracing::info!("email to {user}: {subject}");
}
