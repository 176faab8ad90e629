//! Starting and stopping the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::http::docs_ui::OpenApiJson;
use crate::http::metrics::Metrics;
use crate::http::state::AppState;
use crate::http::{context, fallback, openapi, routes};
use crate::realtime::TopicHub;
use crate::startup::StartupError;
use crate::wiring;

/// A server that is accepting connections.
pub struct RunningServer {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ServerHandle,
    /// Its real-time rooms ([`RunningServer::stop`] closes their sockets first).
    pub rooms: TopicHub,
    /// The job queue its handlers and worker use.
    pub jobs: Arc<dyn domain_jobs::JobQueue>,
    /// Its background-job worker, unless `AGORA_WORKER=off`.
    worker: Option<crate::jobs::WorkerHandle>,
    /// Rings the worker (see [`BackgroundServer::wake_jobs`]).
    job_wake: Arc<tokio::sync::Notify>,
    server: actix_web::dev::Server,
}

impl RunningServer {
    /// Serves until stopped (by [`ServerHandle::stop`] or a signal when enabled).
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run(self) -> std::io::Result<()> {
        let served = self.server.await;
        // The HTTP side has stopped (a signal or `stop`): let the running jobs finish,
        // within the shutdown timeout, before the runtime that carries them goes away.
        if let Some(worker) = &self.worker {
            worker.stop().await;
        }
        served
    }

    /// Stops gracefully: real-time clients get close code 1001, then in-flight requests
    /// finish.
    pub async fn stop(&self) {
        stop_gracefully(&self.handle, &self.rooms).await;
        if let Some(worker) = &self.worker {
            worker.stop().await;
        }
    }
}

/// Closes every WebSocket with 1001 (actix would otherwise wait for open sockets until
/// the shutdown timeout), then stops the server gracefully.
async fn stop_gracefully(handle: &ServerHandle, rooms: &TopicHub) {
    rooms.shutdown();
    handle.stop(true).await;
}

/// Builds the services for `config`, binds and returns the server, not yet polled.
/// Must be called inside an actix (or tokio `LocalSet`) runtime.
///
/// # Errors
/// [`StartupError`] for bad configuration, unreachable backends or a port in use.
pub async fn start(config: &Config, handle_signals: bool) -> Result<RunningServer, StartupError> {
    start_with_clock(config, handle_signals, Arc::new(domain_core::SystemClock)).await
}

/// [`start`] with every service reading the time from `clock` (see
/// [`wiring::build_with_clock`]); heartbeats and polls stay on the runtime's timers.
///
/// # Errors
/// As [`start`].
pub async fn start_with_clock(
    config: &Config,
    handle_signals: bool,
    clock: Arc<dyn domain_core::Clock>,
) -> Result<RunningServer, StartupError> {
    // Installed before the port is bound, so a signal that arrives as soon as the server
    // accepts connections already stops it gracefully.
    let signals = if handle_signals {
        Some(Signals::install()?)
    } else {
        None
    };
    let backends = wiring::build_with_clock(config, clock).await?;
    tracing::info!(storage = %backends.storage_description, "storage selected");
    let job_deps = backends.job_deps();
    if config.database_url.is_none() {
        tracing::warn!(
            "embedded mode: data lives in this process and is lost when it stops. Set \
             DATABASE_URL (PostgreSQL) and REDIS_URL to keep data and run several instances."
        );
    }
    // one hub for every worker: built here, outside `HttpServer::new`
    let rooms = TopicHub::new(
        backends.topic_bus.clone(),
        Arc::new(crate::realtime::StoredMessages(backends.debates.clone())),
        backends.presence.clone(),
        backends.clock.clone(),
        Duration::from_secs(config.presence_ttl_secs),
    );
    // Sockets recheck their subscriptions as soon as access changes on any instance.
    crate::realtime::access::forward_changes(&backends.rbac, &rooms);
    let realtime = Arc::new(crate::realtime::connection::Realtime {
        hub: rooms.clone(),
        access: crate::realtime::access::TopicAccess::new(
            backends.rbac.clone(),
            backends.debates.clone(),
            backends.moderation.clone(),
        ),
        auth: backends.auth.clone(),
        debates: backends.debates.clone(),
        post_argument: crate::commands::PostArgument::new(
            backends.debates.clone(),
            backends.rbac.clone(),
            backends.rate_limiter.clone(),
            Arc::new(config.room_send_rates.clone()),
            backends.clock.clone(),
        ),
    });
    let guard = web::Data::new(crate::http::guard::Guard::new(backends.rbac.clone()));
    let state = AppState {
        auth: backends.auth,
        health: Arc::new(backends.health),
        trust_proxy: config.trust_proxy,
        rbac: backends.rbac,
        org: backends.org,
        debates: backends.debates,
        moderation: backends.moderation,
        voting: backends.voting,
        analytics: backends.analytics,
        realtime,
        notifications: backends.notifications,
        allowed_origins: Arc::new(config.allowed_origins.clone()),
        jobs: job_deps.clone(),
    };
    let permissions = web::Data::new(crate::http::routes::permissions());
    let queries = web::Data::new(crate::http::routes::queries());
    let metrics = web::Data::new(Metrics::install());
    let doc = web::Data::new(OpenApiJson(Arc::new(openapi::document_json())));
    let asyncapi = web::Data::new(crate::http::asyncapi::AsyncApiJson(Arc::new(
        crate::http::asyncapi::document_json(),
    )));

    let server = HttpServer::new(move || {
        App::new()
            .configure(|app| state.register(app))
            .app_data(guard.clone())
            .app_data(metrics.clone())
            .app_data(doc.clone())
            .app_data(asyncapi.clone())
            .app_data(permissions.clone())
            .app_data(queries.clone())
            .app_data(fallback::json_config())
            .app_data(fallback::path_config())
            .app_data(fallback::query_config())
            .configure(routes::configure)
            .default_service(web::to(fallback::not_found))
            .wrap(from_fn(crate::http::input::screen))
            .wrap(fallback::problem_for_every_error())
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(from_fn(context::request_context))
    })
    .workers(config.workers)
    .shutdown_timeout(config.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(10))
    .disable_signals()
    .bind(config.bind)
    .map_err(|e| {
        StartupError::Other(format!(
            "cannot listen on {} (AGORA_BIND): {e}",
            config.bind
        ))
    })?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| StartupError::Other("no listening address".into()))?;
    let server = server.run();
    let handle = server.handle();
    if let Some(signals) = signals {
        actix_web::rt::spawn(stop_on_signal(signals, handle.clone(), rooms.clone()));
    }
    if !config.worker_enabled {
        if config.database_url.is_some() {
            tracing::info!(
                "AGORA_WORKER=off: background jobs run in `api-server worker` processes"
            );
        } else {
            tracing::warn!(
                "AGORA_WORKER=off in embedded mode: background jobs (e-mail, cleanups) will not run"
            );
        }
    }
    // Started once the port is bound, so a server that fails to start leaves no worker.
    let worker = config.worker_enabled.then(|| {
        crate::jobs::WorkerHandle::spawn(
            crate::jobs::worker(&job_deps, config),
            Duration::from_secs(config.shutdown_timeout_secs),
        )
    });
    tracing::info!(%addr, docs = %format!("http://{addr}/api/docs/"), "listening");
    Ok(RunningServer {
        addr,
        handle,
        rooms,
        jobs: job_deps.queue,
        worker,
        job_wake: job_deps.wake,
        server,
    })
}

/// SIGTERM and SIGINT listeners.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, StartupError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let fail = |e: std::io::Error| StartupError::Other(format!("signal handlers: {e}"));
            Ok(Self {
                term: signal(SignalKind::terminate()).map_err(fail)?,
                int: signal(SignalKind::interrupt()).map_err(fail)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }
}

/// Stops gracefully on SIGTERM or SIGINT: real-time clients get 1001, stop accepting, let
/// in-flight requests finish.
#[allow(unused_mut)]
async fn stop_on_signal(mut signals: Signals, handle: ServerHandle, rooms: TopicHub) {
    #[cfg(unix)]
    {
        let name = tokio::select! {
            _ = signals.term.recv() => "SIGTERM",
            _ = signals.int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down gracefully");
    }
    #[cfg(not(unix))]
    {
        let _ = &signals;
        let _ = tokio::signal::ctrl_c().await;
    }
    stop_gracefully(&handle, &rooms).await;
}

/// A server running on its own thread with its own actix runtime, for tests and
/// benchmarks that drive it from another runtime.
pub struct BackgroundServer {
    /// Listening address.
    pub addr: SocketAddr,
    handle: ServerHandle,
    rooms: TopicHub,
    jobs: Arc<dyn domain_jobs::JobQueue>,
    job_wake: Arc<tokio::sync::Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts a server for `config` on a new thread.
    ///
    /// # Errors
    /// [`StartupError`] as for [`start`].
    pub fn spawn(config: Config) -> Result<Self, StartupError> {
        Self::spawn_with_clock(config, Arc::new(domain_core::SystemClock))
    }

    /// [`BackgroundServer::spawn`] reading the time from `clock`, which the caller keeps
    /// to move time on (see [`start_with_clock`]).
    ///
    /// # Errors
    /// [`StartupError`] as for [`start`].
    pub fn spawn_with_clock(
        config: Config,
        clock: Arc<dyn domain_core::Clock>,
    ) -> Result<Self, StartupError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                match start_with_clock(&config, false, clock).await {
                    Ok(running) => {
                        let _ = tx.send(Ok((
                            running.addr,
                            running.handle.clone(),
                            running.rooms.clone(),
                            running.jobs.clone(),
                            running.job_wake.clone(),
                        )));
                        let _ = running.run().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let (addr, handle, rooms, jobs, job_wake) = rx
            .recv()
            .map_err(|_| StartupError::Other("server thread ended before starting".into()))??;
        Ok(Self {
            addr,
            handle,
            rooms,
            jobs,
            job_wake,
            thread: Some(thread),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's job queue (tests enqueue through it directly).
    pub fn jobs(&self) -> Arc<dyn domain_jobs::JobQueue> {
        self.jobs.clone()
    }

    /// Wakes its job worker as a commit that enqueues jobs does: after a test moved the
    /// server's clock, jobs that became due by it run now rather than at the next poll.
    pub fn wake_jobs(&self) {
        self.job_wake.notify_one();
    }

    /// Stops the server and waits for its thread.
    pub async fn stop(mut self) {
        stop_gracefully(&self.handle, &self.rooms).await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not stopped explicitly: stop without waiting so a failing test does not hang.
            let handle = self.handle.clone();
            self.rooms.shutdown();
            std::thread::spawn(move || {
                let sys = actix_web::rt::System::new();
                sys.block_on(handle.stop(false));
            });
        }
    }
}
