//! Wake-ups for job workers. A statement trigger on `jobs` (migration `jobs_wakeup`)
//! sends `NOTIFY agora_jobs` when a transaction that inserted jobs commits;
//! [`listen_for_jobs`] turns those notifications into rings of a [`Notify`] that the
//! worker waits on (`WorkerConfig::wake`), so a reaction recorded by the outbox runs
//! within milliseconds of the commit, on whichever instance is idle. Polling remains the
//! fallback: a notification lost with a connection delays a job by one poll, no more.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use domain_core::StoreError;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::error::db_error;

/// The channel the `jobs` trigger notifies.
pub const JOBS_CHANNEL: &str = "agora_jobs";

/// Pause before listening again after the connection was lost.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// Listens on [`JOBS_CHANNEL`] on a connection of its own (not the pool's: a pooled
/// connection would stop listening when returned) and rings `wake` for every
/// notification — and once after each (re)connection, because jobs enqueued while it
/// was away were announced to nobody. Runs until its task is dropped; a lost connection
/// is re-established after a pause (logged; workers poll meanwhile).
pub async fn listen_for_jobs(url: String, wake: Arc<Notify>) {
    loop {
        match listen_once(&url, &wake).await {
            Ok(()) => tracing::warn!("job wake-up connection ended; listening again"),
            Err(e) => {
                tracing::warn!(error = %e, "job wake-ups unavailable; workers poll meanwhile");
            }
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

async fn listen_once(url: &str, wake: &Notify) -> Result<(), StoreError> {
    let mut conn = crate::establish(url).await?;
    diesel::sql_query(format!("LISTEN {JOBS_CHANNEL}"))
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
    wake.notify_one();
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        notification.map_err(db_error)?;
        // a permit when no worker waits right now: the next wait returns at once
        wake.notify_one();
    }
    Ok(())
}
