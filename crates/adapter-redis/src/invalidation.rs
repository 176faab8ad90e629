//! RBAC invalidations over Redis pub/sub: [`RedisInvalidationBus`] publishes them, an
//! [`InvalidationListener`] (or [`run_invalidation_listener`]) receives them on every
//! instance and hands them to an [`InvalidationSink`].
//!
//! Pub/sub delivers only to subscribers connected at the time: a message published
//! while a listener is reconnecting is lost for it. The listener therefore tells its
//! sink, through [`InvalidationSink::feed_healthy`], whenever it is not subscribed, so
//! the receiving side can stop trusting (and clear) in-process state until the feed is
//! back.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bb8_redis::redis::{self, aio::PubSubSink, aio::PubSubStream};
use domain_core::StoreError;
use domain_rbac::{Invalidation, InvalidationBus};
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep, timeout};

use crate::RedisPool;
use crate::error::{pool_error, redis_error};

/// First wait before reconnecting after the feed was lost or a connection attempt failed.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);

/// Longest wait between reconnection attempts; the wait doubles from [`RECONNECT_MIN`]
/// up to this while Redis stays unreachable.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// How long connecting and subscribing may take before the attempt counts as failed
/// (a blackholed server would otherwise hang it for the OS's TCP timeout).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often a subscribed listener pings Redis. A connection that silently died (a
/// network partition, a server that vanished without closing the socket) delivers no
/// messages and no error; only an unanswered ping reveals it.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// How long a ping may go unanswered before the connection counts as lost.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

/// The channel carrying the invalidations of deployment `prefix`:
/// `{prefix}rbac:invalidate`.
pub fn invalidation_channel(prefix: &str) -> String {
    format!("{prefix}rbac:invalidate")
}

/// [`InvalidationBus`] on Redis pub/sub: publishes the JSON of each [`Invalidation`] on
/// [`invalidation_channel`]`(prefix)`, using connections from the pool.
#[derive(Clone)]
pub struct RedisInvalidationBus {
    pool: RedisPool,
    channel: String,
}

impl RedisInvalidationBus {
    /// A bus using connections from `pool` and the channel of `prefix`.
    pub fn new(pool: RedisPool, prefix: impl AsRef<str>) -> Self {
        Self {
            pool,
            channel: invalidation_channel(prefix.as_ref()),
        }
    }
}

#[async_trait]
impl InvalidationBus for RedisInvalidationBus {
    async fn publish(&self, message: Invalidation) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&message).map_err(StoreError::unexpected)?;
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // The number of receivers; zero is fine (no other instance is running).
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut *conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}

/// Where a listener delivers what it receives; in api-server, a thin wrapper around
/// `RbacService::apply` and `RbacService::set_feed_healthy`.
///
/// Calls are made one at a time, in order, from the listener's task: the next message
/// waits until `apply` returns.
#[async_trait]
pub trait InvalidationSink: Send + Sync {
    /// A decoded invalidation, received while the feed is healthy.
    async fn apply(&self, message: Invalidation);

    /// Whether the feed is live. `false` comes first, before the first subscription, and
    /// again whenever the connection is lost (and last, when the listener is stopped
    /// with [`InvalidationListener::stop`]); `true` comes after each subscription is
    /// confirmed by Redis, before any message received on it. Only changes are reported.
    ///
    /// Messages published while the feed was down are lost, so on `true` the receiver
    /// must assume anything may have changed in between.
    async fn feed_healthy(&self, healthy: bool);
}

/// A running listener task (see [`run_invalidation_listener`] for its behaviour).
///
/// Dropping it leaves the task running, like dropping a [`JoinHandle`]; stop it with
/// [`InvalidationListener::stop`] or [`InvalidationListener::abort`].
#[derive(Debug)]
#[must_use = "dropping the handle leaves the listener running with no way to stop it"]
pub struct InvalidationListener {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl InvalidationListener {
    /// Spawns a listener on the current Tokio runtime, subscribing to the channel of
    /// `prefix` on the server at `url` and feeding `sink`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] for a malformed URL (no retry could fix it). An
    /// unreachable server is not an error: the listener keeps retrying.
    pub fn spawn(
        url: &str,
        prefix: &str,
        sink: Arc<dyn InvalidationSink>,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::unexpected)?;
        let channel = invalidation_channel(prefix);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut feed = Feed::new(sink);
            tokio::select! {
                // Resolves on `stop` and also if the handle was dropped: then nobody can
                // stop the task any more, so it keeps running.
                Ok(()) = stopped => {}
                never = feed.run(&client, &channel) => match never {},
            }
            feed.report(false).await;
        });
        Ok(Self {
            stop: Some(stop),
            task,
        })
    }

    /// Stops the listener: it unsubscribes (closes its connection), reports
    /// `feed_healthy(false)` if it had reported `true`, and only then returns. A call to
    /// [`InvalidationSink::apply`] in progress is abandoned.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Err only if the task panicked (in the sink) or was aborted: it is over anyway.
        let _ = (&mut self.task).await;
    }

    /// Stops the listener at once, without a final `feed_healthy(false)`.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether the task has ended (stopped, aborted, or a sink call panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Receives the invalidations of `prefix` from the Redis at `url`, forever, on a
/// dedicated pub/sub connection (not a pooled one):
///
/// 1. reports `feed_healthy(false)` (nothing is received yet);
/// 2. connects and subscribes to [`invalidation_channel`]`(prefix)`; once Redis confirms
///    the subscription, reports `feed_healthy(true)`;
/// 3. hands every message that decodes to `sink.apply`; one that does not decode is
///    logged and skipped;
/// 4. on connection loss (closed, killed, or a heartbeat ping unanswered), reports
///    `feed_healthy(false)` and goes back to 2 after a wait that starts at
///    [`RECONNECT_MIN`] and doubles up to [`RECONNECT_MAX`] while attempts fail.
///
/// Run it in a task of its own and abort that task to stop it, or use
/// [`InvalidationListener::spawn`], which can also stop gracefully.
///
/// # Errors
/// Returns only for a malformed URL ([`StoreError::Unexpected`]), before reporting
/// anything.
pub async fn run_invalidation_listener(
    url: String,
    prefix: String,
    sink: Arc<dyn InvalidationSink>,
) -> Result<Infallible, StoreError> {
    let client = redis::Client::open(url).map_err(StoreError::unexpected)?;
    match Feed::new(sink)
        .run(&client, &invalidation_channel(&prefix))
        .await {}
}

/// The listener's state: the sink and what it was last told.
struct Feed {
    sink: Arc<dyn InvalidationSink>,
    reported: Option<bool>,
}

impl Feed {
    fn new(sink: Arc<dyn InvalidationSink>) -> Self {
        Self {
            sink,
            reported: None,
        }
    }

    async fn report(&mut self, healthy: bool) {
        if self.reported != Some(healthy) {
            self.reported = Some(healthy);
            self.sink.feed_healthy(healthy).await;
        }
    }

    /// Never returns; the future is dropped to stop.
    async fn run(&mut self, client: &redis::Client, channel: &str) -> Infallible {
        self.report(false).await;
        let mut wait = RECONNECT_MIN;
        let mut down_since = Instant::now();
        let mut failures: u32 = 0;
        loop {
            match timeout(SUBSCRIBE_TIMEOUT, subscribe(client, channel)).await {
                Ok(Ok((pings, messages))) => {
                    tracing::info!(
                        %channel,
                        after_ms = down_since.elapsed().as_millis(),
                        "subscribed to RBAC invalidations"
                    );
                    self.report(true).await;
                    wait = RECONNECT_MIN;
                    failures = 0;
                    let why = self.pump(pings, messages).await;
                    self.report(false).await;
                    down_since = Instant::now();
                    tracing::warn!(%channel, reason = %why, "RBAC invalidation feed lost; reconnecting");
                }
                outcome => {
                    let why = match outcome {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no subscription within {SUBSCRIBE_TIMEOUT:?}"),
                    };
                    failures += 1;
                    // One warning per outage; the retries after it are routine.
                    if failures == 1 {
                        tracing::warn!(%channel, error = %why, "cannot subscribe to RBAC invalidations; retrying");
                    } else {
                        tracing::debug!(%channel, error = %why, failures, "still cannot subscribe to RBAC invalidations");
                    }
                }
            }
            sleep(wait).await;
            wait = (wait * 2).min(RECONNECT_MAX);
        }
    }

    /// Delivers messages until the connection is lost; returns why it was.
    async fn pump(&mut self, mut pings: PubSubSink, mut messages: PubSubStream) -> String {
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        if let Some(invalidation) = decode(&message) {
                            self.sink.apply(invalidation).await;
                        }
                    }
                    None => return "connection closed".to_owned(),
                },
                _ = heartbeat.tick() => {
                    match timeout(HEARTBEAT_TIMEOUT, pings.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return format!("ping failed: {e}"),
                        Err(_) => return format!("ping unanswered for {HEARTBEAT_TIMEOUT:?}"),
                    }
                }
            }
        }
    }
}

/// A pub/sub connection subscribed to `channel`; returns once Redis has confirmed it.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
    let (mut sink, stream) = client.get_async_pubsub().await?.split();
    sink.subscribe(channel).await?;
    Ok((sink, stream))
}

/// The invalidation a message carries, or `None` (logged) when it does not decode.
fn decode(message: &redis::Msg) -> Option<Invalidation> {
    let decoded = message
        .get_payload::<String>()
        .map_err(|e| e.to_string())
        .and_then(|payload| serde_json::from_str(&payload).map_err(|e| e.to_string()));
    match decoded {
        Ok(invalidation) => Some(invalidation),
        Err(error) => {
            tracing::warn!(
                channel = message.get_channel_name(),
                %error,
                "skipping an undecodable RBAC invalidation"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn channel_is_under_the_prefix() {
        assert_eq!(invalidation_channel("agora:"), "agora:rbac:invalidate");
    }

    #[test]
    fn wire_format_is_tagged_json() {
        let user_id = Uuid::nil();
        let json = serde_json::to_string(&Invalidation::User { user_id }).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"kind":"user","user_id":"00000000-0000-0000-0000-000000000000"}"#
        );
        assert_eq!(
            serde_json::from_str::<Invalidation>(r#"{"kind":"policy"}"#).ok(),
            Some(Invalidation::Policy)
        );
    }
}
