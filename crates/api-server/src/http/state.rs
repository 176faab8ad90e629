//! What handlers share: domain services and operational hooks. Built once, outside
//! `HttpServer::new` (whose closure runs once per worker), and cloned cheaply.

use std::sync::Arc;

use domain_identity::AuthService;
use domain_org::OrgService;
use domain_rbac::RbacService;

use super::guard::Guard;
pub use health_check::HealthCheck;

/// Readiness probes of backing services.
pub mod health_check {
    use std::future::Future;
    use std::pin::Pin;

    /// A backing service that `/readyz` checks.
    pub trait HealthCheck: Send + Sync {
        /// Name shown in the readiness report (`postgres`, `redis`).
        fn name(&self) -> &'static str;
        /// Resolves to `Err(reason)` when the service is not reachable; the reason is logged,
        /// never shown to clients.
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
        /// The figures of the service's connection pool, for `/metrics`; `None` when it
        /// has none.
        fn pool_stats(&self) -> Option<crate::http::metrics::PoolStats> {
            None
        }
    }
}

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// Accounts and authentication.
    pub auth: AuthService,
    /// Probes for `/readyz`.
    pub health: Arc<Vec<Arc<dyn HealthCheck>>>,
    /// Whether to believe `X-Forwarded-For` for the client address (behind a proxy only).
    pub trust_proxy: bool,
    /// Access control.
    pub rbac: Arc<RbacService>,
    /// The guard every route and real-time handler goes through.
    pub guard: Guard,
    /// Institutions, campuses, departments.
    pub org: OrgService,
    /// Debates.
    pub debates: domain_debates::DebateService,
    /// Moderation of debate sessions.
    pub moderation: domain_debates::ModerationService,
    /// Votes on closed debate sessions.
    pub voting: domain_debates::VotingService,
    /// Daily activity figures of debates (`/api/analytics/daily/`).
    pub analytics: domain_debates::AnalyticsService,
    /// The signed-in user's notifications.
    pub notifications: domain_notifications::NotificationService,
    /// The real-time platform: the topics of this instance, subscription rules and the
    /// command path of arguments (shared by REST and the sockets).
    pub realtime: Arc<crate::realtime::connection::Realtime>,
    /// `AGORA_ALLOWED_ORIGINS`: origins besides the server's own that may open a room.
    pub allowed_origins: Arc<Vec<String>>,
    /// Background jobs (queue, mailer, clock), for the operators' endpoints
    /// (`/api/admin/jobs/`) and for enqueueing.
    pub jobs: crate::jobs::JobDeps,
}
