//! What handlers share: domain services and operational hooks. Built once, outside
//! `HttpServer::new` (whose closure runs once per worker), and cloned cheaply.

use std::sync::Arc;

use domain_identity::AuthService;
use domain_org::OrgService;
use domain_rbac::RbacService;

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

/// What the account routes (`/api/users/…`) and the [`super::extract::Authenticated`]
/// extractor reach.
#[derive(Clone)]
pub struct AccountsState {
    /// Accounts and authentication.
    pub auth: AuthService,
    /// Whether to believe `X-Forwarded-For` for the client address (behind a proxy only).
    pub trust_proxy: bool,
}

/// What the access-control routes (`/api/rbac/…`) reach.
#[derive(Clone)]
pub struct AccessState {
    /// Access control.
    pub rbac: Arc<RbacService>,
}

/// What the organisation routes (`/api/org/…`) reach.
#[derive(Clone)]
pub struct OrgState {
    /// Institutions, campuses, departments.
    pub org: OrgService,
    /// Access control, for the units a caller may read.
    pub rbac: Arc<RbacService>,
}

/// What the debate routes (`/api/debates/…`, `/api/moderation/…`) reach.
#[derive(Clone)]
pub struct DebatesState {
    /// Debates.
    pub debates: domain_debates::DebateService,
    /// Moderation of debate sessions.
    pub moderation: domain_debates::ModerationService,
    /// Votes on closed debate sessions.
    pub voting: domain_debates::VotingService,
    /// Access control, for what a caller may read and do per item.
    pub rbac: Arc<RbacService>,
    /// The command path of arguments, shared with the sockets.
    pub realtime: Arc<crate::realtime::connection::Realtime>,
    /// Accounts, to name the authors in a transcript.
    pub auth: AuthService,
}

/// What the analytics route (`/api/analytics/…`) reaches.
#[derive(Clone)]
pub struct AnalyticsState {
    /// Daily activity figures of debates.
    pub analytics: domain_debates::AnalyticsService,
    /// Access control, for the scopes a caller may read.
    pub rbac: Arc<RbacService>,
}

/// What the notification routes (`/api/notifications/…`) reach.
#[derive(Clone)]
pub struct NotificationsState {
    /// The signed-in user's notifications.
    pub notifications: domain_notifications::NotificationService,
}

/// What the WebSocket handshakes (`/ws/…`) reach.
#[derive(Clone)]
pub struct SocketsState {
    /// The real-time platform: topics, subscription rules, the argument command path.
    pub realtime: Arc<crate::realtime::connection::Realtime>,
    /// Accounts, to authenticate the handshake.
    pub auth: AuthService,
    /// `AGORA_ALLOWED_ORIGINS`: origins besides the server's own that may open a socket.
    pub allowed_origins: Arc<Vec<String>>,
}

/// What the operators' routes (health, readiness, metrics, `/api/admin/jobs/`) reach.
#[derive(Clone)]
pub struct OpsState {
    /// Probes for `/readyz`.
    pub health: Arc<Vec<Arc<dyn HealthCheck>>>,
    /// Background jobs (queue, mailer, clock), for the operators' endpoints and for
    /// enqueueing.
    pub jobs: crate::jobs::JobDeps,
}

/// Every feature's state, built once by the server and registered piece by piece: each
/// route reaches only its own feature's state ([`AppState::register`]).
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

impl AppState {
    /// Registers each feature's state on `app`, so a handler takes the one of its feature
    /// (`web::Data<DebatesState>`, …); the server registers the `Guard` the permission
    /// extractor takes.
    pub fn register(&self, app: &mut actix_web::web::ServiceConfig) {
        use actix_web::web::Data;
        app.app_data(Data::new(AccountsState {
            auth: self.auth.clone(),
            trust_proxy: self.trust_proxy,
        }))
        .app_data(Data::new(AccessState {
            rbac: self.rbac.clone(),
        }))
        .app_data(Data::new(OrgState {
            org: self.org.clone(),
            rbac: self.rbac.clone(),
        }))
        .app_data(Data::new(DebatesState {
            debates: self.debates.clone(),
            moderation: self.moderation.clone(),
            voting: self.voting.clone(),
            rbac: self.rbac.clone(),
            realtime: self.realtime.clone(),
            auth: self.auth.clone(),
        }))
        .app_data(Data::new(AnalyticsState {
            analytics: self.analytics.clone(),
            rbac: self.rbac.clone(),
        }))
        .app_data(Data::new(NotificationsState {
            notifications: self.notifications.clone(),
        }))
        .app_data(Data::new(SocketsState {
            realtime: self.realtime.clone(),
            auth: self.auth.clone(),
            allowed_origins: self.allowed_origins.clone(),
        }))
        .app_data(Data::new(OpsState {
            health: self.health.clone(),
            jobs: self.jobs.clone(),
        }));
    }
}
