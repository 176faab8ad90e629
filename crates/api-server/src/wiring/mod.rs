//! The composition root: picks the adapters for each port from the configuration and
//! builds the domain services — in memory when nothing is configured, PostgreSQL and Redis
//! otherwise. One builder per concern:
//!
//! | module | builds |
//! |---|---|
//! | [`storage`] | the durable stores (PostgreSQL or memory) and the PostgreSQL probe |
//! | [`shared`] | the state instances share (Redis or memory) and the Redis probe |
//! | [`identity`] | `AuthService`, its key and hasher; the bootstrap administrator |
//! | [`access`] | `RbacService` and the invalidation listener |
//! | [`features`] | debates, moderation, votes, analytics, organisations, notifications, reactions |
//!
//! [`build`] runs them in that order and hands the result, [`Backends`], to the server
//! (`crate::server`) and the worker (`crate::jobs`).

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

mod access;
mod features;
mod identity;
mod shared;
mod storage;

use std::sync::Arc;

use domain_core::{Clock, SystemClock};
use domain_identity::{AuthService, LoginSessionRepository, UserRepository};
use domain_notifications::NotificationService;
use domain_org::OrgService;
use domain_rbac::RbacService;

use crate::config::Config;
use crate::http::state::HealthCheck;
use crate::jobs::JobDeps;
use crate::startup::StartupError;

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
    pub login_sessions: Arc<dyn LoginSessionRepository>,
    /// The clock every service reads.
    pub clock: Arc<dyn Clock>,
    /// Probes for `/readyz`.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// One line describing where data lives, logged at startup.
    pub storage_description: String,
}

impl Backends {
    /// What the job handlers and the worker need of these services.
    pub fn job_deps(&self) -> JobDeps {
        JobDeps {
            queue: self.jobs.clone(),
            mailer: self.mailer.clone(),
            users: self.user_store.clone(),
            login_sessions: self.login_sessions.clone(),
            rbac: self.rbac.clone(),
            moderation: self.moderation.clone(),
            analytics: self.analytics.clone(),
            reactions: self.reactions.clone(),
            wake: self.job_wake.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// Readiness probes and a description of where data lives, gathered while building.
#[derive(Default)]
pub(super) struct Probes {
    health: Vec<Arc<dyn HealthCheck>>,
    description: Vec<&'static str>,
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

/// Builds every service for `config`, on the wall clock.
///
/// # Errors
/// [`StartupError`] when a configured backend cannot be reached or prepared.
pub async fn build(config: &Config) -> Result<Backends, StartupError> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// [`build`] with every service reading the time from `clock`: tests pass a manual clock
/// so that mutes, voting windows, grants, tokens and scheduled jobs end when the test
/// moves time on, not after a wait.
///
/// # Errors
/// As [`build`].
pub async fn build_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Backends, StartupError> {
    let mut probes = Probes::default();
    let storage = storage::open(config, &mut probes).await?;
    let shared = shared::open(config, &mut probes).await?;
    let mailer = crate::mail::mailer(config)?;
    let auth = identity::auth_service(config, &storage, &shared, clock.clone())?;
    let rbac = access::rbac_service(config, &storage, &shared, clock.clone()).await?;
    let features = features::build(&storage, &shared, clock.clone());
    if let Some(admin) = &config.bootstrap_admin {
        identity::bootstrap_admin(&auth, admin).await?;
    }
    // Pay for the decoy hash now rather than in the first failed login (timing equality).
    auth.warm_up()
        .await
        .map_err(|e| StartupError::Other(e.to_string()))?;
    Ok(Backends {
        auth,
        rbac,
        org: features.org,
        debates: features.debates,
        moderation: features.moderation,
        voting: features.voting,
        analytics: features.analytics,
        topic_bus: shared.topic_bus,
        rate_limiter: shared.rate_limiter,
        presence: shared.presence,
        notifications: features.notifications,
        reactions: features.reactions,
        job_wake: storage.job_wake,
        jobs: storage.jobs,
        mailer,
        user_store: storage.users,
        login_sessions: storage.login_sessions,
        clock,
        health: probes.health,
        storage_description: probes.description.join("; "),
    })
}
