//! `api-server worker`: the job worker alone, in its own process.

use std::time::Duration;

use crate::config::Config;
use crate::jobs::{WorkerHandle, worker};
use crate::startup::StartupError;
use crate::wiring;

/// Runs `api-server worker`: the job worker alone, no HTTP, until SIGTERM or SIGINT.
///
/// # Errors
/// [`StartupError`] without `DATABASE_URL` (a memory queue in a separate process would
/// hold nothing anyone enqueued) or when a backend cannot be reached.
pub async fn run_worker(config: &Config) -> Result<(), StartupError> {
    if config.database_url.is_none() {
        return Err(StartupError::Other(
            "worker needs DATABASE_URL: without it the job queue lives in the memory of each \
             process, so a separate worker would never see the jobs a server enqueues (in \
             embedded mode `serve` runs the worker itself)"
                .into(),
        ));
    }
    // Installed before anything slow, so an early signal still stops gracefully.
    let signal = shutdown_signal()?;
    let backends = wiring::build(config).await?;
    tracing::info!(storage = %backends.storage_description, "storage selected");
    let deps = backends.job_deps();
    let handle = WorkerHandle::spawn(
        worker(&deps, config),
        Duration::from_secs(config.shutdown_timeout_secs),
    );
    let name = signal.await;
    tracing::info!(signal = name, "shutting down gracefully");
    handle.stop().await;
    Ok(())
}

/// Resolves with the signal's name on SIGTERM or SIGINT (Ctrl-C elsewhere).
fn shutdown_signal()
-> Result<impl std::future::Future<Output = &'static str> + Send + 'static, StartupError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |e: std::io::Error| StartupError::Other(format!("signal handlers: {e}"));
        let mut term = signal(SignalKind::terminate()).map_err(fail)?;
        let mut int = signal(SignalKind::interrupt()).map_err(fail)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}
