//! Topic fan-out over Redis pub/sub: [`RedisTopicBus`] publishes a topic's frames on the
//! channel `{prefix}{topic}` (`agora:debate:{session_id}`, `agora:user:{user_id}`, …)
//! through the pool, and receives them on one dedicated pub/sub connection per instance
//! that multiplexes the SUBSCRIBE / UNSUBSCRIBE of every topic this instance has
//! subscribers of.
//!
//! The connection is opened on the first subscription and reopened (with backoff) when
//! lost; every room subscribed at that time is subscribed again. A message published while
//! the connection is down is lost for this instance; the real-time layer fills such gaps
//! from storage by sequence number where a topic has one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bb8_redis::redis::{self, aio::PubSubSink, aio::PubSubStream};
use domain_core::StoreError;
use domain_core::{TopicBus, TopicSink, TopicSubscription};
use futures_util::StreamExt;
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::{Instant, MissedTickBehavior, sleep, timeout};

use crate::error::{pool_error, redis_error};
use crate::{Breaker, RECONNECT_MAX, RECONNECT_MIN, RedisPool};

/// Longest wait for the connection, or for Redis to confirm a subscription.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the idle connection is checked with a PING.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// The pub/sub channel of `topic`: `{prefix}{topic}`.
pub fn topic_channel(prefix: &str, topic: &str) -> String {
    format!("{prefix}{topic}")
}

type Sinks = HashMap<String, HashMap<u64, TopicSink>>;

struct Shared {
    client: redis::Client,
    /// Receivers by channel: what the connection must be subscribed to.
    sinks: Mutex<Sinks>,
    /// The live connection's command side; `None` while (re)connecting. Held across
    /// SUBSCRIBE / UNSUBSCRIBE so that they reach Redis in the order they were decided.
    commands: AsyncMutex<Option<PubSubSink>>,
    next_id: AtomicU64,
    started: std::sync::Once,
}

impl Shared {
    fn sinks(&self) -> std::sync::MutexGuard<'_, Sinks> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`TopicBus`] over Redis pub/sub.
///
/// While Redis is down, publishing fails at once but for a probe now and then (see
/// [`Breaker`]) instead of waiting [`crate::CHECKOUT_TIMEOUT`] each time: a debater's
/// next argument waited for the previous one's broadcast. Nothing more is lost than
/// without it — a frame published while the subscribing connections are down is lost
/// for them either way, and clients fill such gaps from storage.
#[derive(Clone)]
pub struct RedisTopicBus {
    pool: RedisPool,
    breaker: Breaker,
    prefix: String,
    shared: Arc<Shared>,
}

impl RedisTopicBus {
    /// A bus publishing through `pool` and subscribing on a connection of its own to
    /// `url`, opened on the first subscription.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] for a malformed URL.
    pub fn new(pool: RedisPool, url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let bus = Self {
            pool,
            breaker: Breaker::default(),
            prefix: prefix.into(),
            shared: Arc::new(Shared {
                client: redis::Client::open(url).map_err(StoreError::unexpected)?,
                sinks: Mutex::new(HashMap::new()),
                commands: AsyncMutex::new(None),
                next_id: AtomicU64::new(0),
                started: std::sync::Once::new(),
            }),
        };
        // Connect now, on the caller's runtime, when there is one (else on first use).
        if tokio::runtime::Handle::try_current().is_ok() {
            bus.start();
        }
        Ok(bus)
    }

    fn start(&self) {
        let shared = &self.shared;
        shared.started.call_once(|| {
            tokio::spawn(run_connection(Arc::downgrade(shared)));
        });
    }
}

/// Runs the connection until the bus is dropped: connect, subscribe every wanted
/// channel, dispatch messages; on loss, start over.
async fn run_connection(shared: Weak<Shared>) {
    let mut wait = RECONNECT_MIN;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let outcome = timeout(SUBSCRIBE_TIMEOUT, connect(&s)).await;
        drop(s);
        match outcome {
            Ok(Ok(stream)) => {
                wait = RECONNECT_MIN;
                let why = pump(&shared, stream).await;
                if let Some(s) = shared.upgrade() {
                    *s.commands.lock().await = None;
                } else {
                    return;
                }
                tracing::warn!(reason = %why, "topic pub/sub connection lost; reconnecting");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot open the topic pub/sub connection")
            }
            Err(_) => {
                tracing::warn!("topic pub/sub connection: no answer within {SUBSCRIBE_TIMEOUT:?}")
            }
        }
        sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// Opens the connection and subscribes every channel wanted now; publishes the command
/// side for later subscriptions.
async fn connect(s: &Shared) -> redis::RedisResult<PubSubStream> {
    let (mut sink, stream) = s.client.get_async_pubsub().await?.split();
    let mut commands = s.commands.lock().await;
    let wanted: Vec<String> = s.sinks().keys().cloned().collect();
    for channel in wanted {
        sink.subscribe(channel).await?;
    }
    *commands = Some(sink);
    Ok(stream)
}

async fn pump(shared: &Weak<Shared>, mut stream: PubSubStream) -> String {
    let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return "connection closed".to_owned() };
                let Some(s) = shared.upgrade() else { return "bus dropped".to_owned() };
                let channel = message.get_channel_name();
                let payload = match message.get_payload::<String>() {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(%channel, error = %e, "skipping an undecodable topic frame");
                        continue;
                    }
                };
                let receivers: Vec<TopicSink> = s
                    .sinks()
                    .get(channel)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                for sink in receivers {
                    sink(payload.clone());
                }
            }
            _ = heartbeat.tick() => {
                let Some(s) = shared.upgrade() else { return "bus dropped".to_owned() };
                let commands = s.commands.lock().await.clone();
                let Some(mut commands) = commands else { return "no command side".to_owned() };
                match timeout(SUBSCRIBE_TIMEOUT, commands.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return format!("ping failed: {e}"),
                    Err(_) => return format!("ping unanswered for {SUBSCRIBE_TIMEOUT:?}"),
                }
            }
        }
    }
}

/// Removes a receiver when dropped; the last one of a channel unsubscribes it.
struct Subscription {
    shared: Weak<Shared>,
    channel: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let emptied = {
            let mut sinks = shared.sinks();
            match sinks.get_mut(&self.channel) {
                Some(m) => {
                    m.remove(&self.id);
                    if m.is_empty() {
                        sinks.remove(&self.channel);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        if !emptied {
            return;
        }
        let channel = std::mem::take(&mut self.channel);
        // Dropped outside a runtime (process exit): the connection goes with it anyway.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut commands = shared.commands.lock().await;
                // Re-subscribed meanwhile: keep it.
                if shared.sinks().contains_key(&channel) {
                    return;
                }
                if let Some(sink) = commands.as_mut()
                    && let Err(e) = sink.unsubscribe(&channel).await
                {
                    tracing::debug!(%channel, error = %e, "unsubscribe failed (connection lost?)");
                }
            });
        }
    }
}

#[async_trait]
impl TopicBus for RedisTopicBus {
    async fn publish(&self, topic: &str, payload: String) -> Result<(), StoreError> {
        self.breaker
            .call(async {
                let mut conn = self.pool.get().await.map_err(pool_error)?;
                let _: i64 = redis::cmd("PUBLISH")
                    .arg(topic_channel(&self.prefix, topic))
                    .arg(payload)
                    .query_async(&mut *conn)
                    .await
                    .map_err(redis_error)?;
                Ok(())
            })
            .await
    }

    async fn subscribe(
        &self,
        topic: &str,
        sink: TopicSink,
    ) -> Result<TopicSubscription, StoreError> {
        self.start();
        let shared = &self.shared;
        let channel = topic_channel(&self.prefix, topic);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared
            .sinks()
            .entry(channel.clone())
            .or_default()
            .insert(id, sink);
        // From here on, dropping the guard undoes the registration on every path.
        let guard = Subscription {
            shared: Arc::downgrade(shared),
            channel: channel.clone(),
            id,
        };
        let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
        loop {
            let mut commands = shared.commands.lock().await;
            if let Some(sink) = commands.as_mut() {
                // SUBSCRIBE is confirmed by Redis before this returns (again is harmless).
                return match timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(&channel)).await {
                    Ok(Ok(())) => Ok(Box::new(guard)),
                    Ok(Err(e)) => Err(redis_error(e)),
                    Err(_) => Err(StoreError::Unavailable(format!(
                        "redis: no subscription within {SUBSCRIBE_TIMEOUT:?}"
                    ))),
                };
            }
            drop(commands);
            if Instant::now() >= deadline {
                return Err(StoreError::Unavailable(
                    "redis: the pub/sub connection is down".into(),
                ));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_is_under_the_prefix() {
        assert_eq!(topic_channel("agora:", "debate:1"), "agora:debate:1");
    }
}
