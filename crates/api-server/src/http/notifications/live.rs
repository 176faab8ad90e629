//! `/ws/notifications/`: each signed-in user's live feed of new notifications (protocol
//! in `docs/realtime.md`), on every connection they have open, on any instance.
//!
//! A notification reaches the feed through a bus keyed by user id — Redis pub/sub on
//! `{prefix}notif:{user_id}` ([`adapter_redis::RedisRoomBus::with_namespace`]), or an
//! in-process loopback in the embedded mode. [`LivePush`] publishes to it when the
//! notification service announces a stored notification; every instance with
//! connections of that user (the publisher included) delivers what comes back from the
//! bus, so nothing arrives twice. [`NotificationHub`] holds one bus subscription per user
//! with connections on this instance, shared by those connections.
//!
//! The feed is a convenience, not a log: a frame published while a client is away is
//! not kept for it. A client that (re)connects reads what it missed with
//! `GET /api/notifications/` (and the count with `…/unread-count/`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, Session};
use domain_core::{DomainEvent, EventPublisher, StoreError};
use domain_debates::{RoomBus, RoomSink};
use domain_notifications::{Notification, NotificationEvent, NotificationStore};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};
use uuid::Uuid;

use super::NotificationDto;
use crate::http::problem::ApiError;
use crate::http::routes::Endpoint;
use crate::http::socket::{self, End, HEARTBEAT_EVERY, MAX_FRAME, close, socket_caller};
use crate::http::state::AppState;

/// Frames buffered per user and instance before a connection counts as unable to keep
/// up (it is then closed with 1013 and reads the list when it comes back).
pub const FEED_QUEUE: usize = 64;
/// Longest wait for the client to take a frame.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Namespace of the per-user channels on the bus (`{prefix}notif:{user_id}`).
pub const BUS_NAMESPACE: &str = "notif";

pub(super) fn endpoint() -> Endpoint {
    Endpoint::get("/ws/notifications/", "notificationFeed")
        .summary(
            "notifications",
            "Live feed of the caller's new notifications (WebSocket; see docs/realtime.md)",
        )
        .authenticated()
        .hidden()
        .to(feed)
}

/// The per-user feeds of this instance. Built once at startup and shared by every
/// worker; cloning is cheap.
#[derive(Clone)]
pub struct NotificationHub {
    inner: Arc<Inner>,
}

type Ready = watch::Receiver<Option<Result<(), String>>>;

struct Inner {
    bus: Arc<dyn RoomBus>,
    feeds: Mutex<HashMap<Uuid, Feed>>,
    generation: AtomicU64,
}

/// One user's feed on this instance, while they have connections here.
struct Feed {
    generation: u64,
    clients: usize,
    tx: broadcast::Sender<Arc<str>>,
    ready: Ready,
    /// Dropping it ends the task holding the bus subscription.
    _stop: oneshot::Sender<()>,
}

/// One connection's place in its user's feed; leaves it when dropped (the last one out
/// unsubscribes the instance).
pub struct Listener {
    hub: NotificationHub,
    user: Uuid,
    generation: u64,
    /// Frames for the user, as published.
    pub frames: broadcast::Receiver<Arc<str>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut feeds = self.hub.lock();
        if let Some(feed) = feeds.get_mut(&self.user)
            && feed.generation == self.generation
        {
            feed.clients = feed.clients.saturating_sub(1);
            if feed.clients == 0 {
                feeds.remove(&self.user);
            }
        }
    }
}

impl NotificationHub {
    /// Feeds fanned out through `bus`, keyed by user id.
    pub fn new(bus: Arc<dyn RoomBus>) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                feeds: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Feed>> {
        self.inner
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of users with connections on this instance.
    pub fn open_feeds(&self) -> usize {
        self.lock().len()
    }

    /// Joins `user`'s feed, subscribing this instance to it for their first connection.
    /// Returns once the subscription is confirmed, so every frame published afterwards
    /// reaches the listener.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be subscribed.
    pub async fn listen(&self, user: Uuid) -> Result<Listener, StoreError> {
        let (listener, mut ready) = {
            let mut feeds = self.lock();
            let feed = feeds.entry(user).or_insert_with(|| self.open(user));
            feed.clients += 1;
            (
                Listener {
                    hub: self.clone(),
                    user,
                    generation: feed.generation,
                    frames: feed.tx.subscribe(),
                },
                feed.ready.clone(),
            )
        };
        let outcome = ready
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("feed closed while joining".into()))?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(listener),
            Some(Err(why)) => Err(StoreError::Unavailable(why)),
            None => Err(StoreError::Unavailable("feed not ready".into())),
        }
    }

    /// Creates a feed and the task holding its subscription (called under the lock).
    fn open(&self, user: Uuid) -> Feed {
        let (tx, _) = broadcast::channel(FEED_QUEUE);
        let (ready_tx, ready) = watch::channel(None);
        let (stop, stopped) = oneshot::channel::<()>();
        let out = tx.clone();
        let sink: RoomSink = Arc::new(move |text: String| {
            // Err only when no connection listens any more: nothing to do.
            let _ = out.send(Arc::from(text));
        });
        let bus = self.inner.bus.clone();
        tokio::spawn(async move {
            match bus.subscribe(user, sink).await {
                Ok(subscription) => {
                    let _ = ready_tx.send(Some(Ok(())));
                    // Resolves when the feed is removed (its stop sender dropped).
                    let _ = stopped.await;
                    drop(subscription);
                }
                Err(e) => {
                    tracing::warn!(%user, error = %e, "cannot subscribe to a notification feed");
                    let _ = ready_tx.send(Some(Err(e.to_string())));
                }
            }
        });
        Feed {
            generation: self.inner.generation.fetch_add(1, Ordering::Relaxed),
            clients: 0,
            tx,
            ready,
            _stop: stop,
        }
    }
}

/// Publishes the notification service's [`NotificationEvent::Created`] to the user's feed
/// on every instance, as a `notification.created` frame. Other events are ignored.
pub struct LivePush {
    bus: Arc<dyn RoomBus>,
    /// Counts unread notifications when the event does not carry the count (the cache
    /// did not know it).
    store: Arc<dyn NotificationStore>,
}

impl LivePush {
    /// Pushes through `bus`, counting in `store` when needed.
    pub fn new(bus: Arc<dyn RoomBus>, store: Arc<dyn NotificationStore>) -> Self {
        Self { bus, store }
    }

    /// The frame for a created notification, and whose it is.
    async fn frame(
        &self,
        notification: Notification,
        unread: Option<u64>,
    ) -> Result<(Uuid, String), StoreError> {
        let user = notification.user_id;
        let unread = match unread {
            Some(n) => n,
            None => self.store.unread_count(user).await?,
        };
        let frame = json!({
            "type": "notification.created",
            "notification": NotificationDto::from(notification),
            "unread": unread,
        });
        Ok((user, frame.to_string()))
    }
}

#[async_trait::async_trait]
impl EventPublisher for LivePush {
    async fn publish(&self, event: DomainEvent) -> Result<(), StoreError> {
        if !event.is::<NotificationEvent>() {
            return Ok(());
        }
        let NotificationEvent::Created {
            notification,
            unread,
        } = event.decode().map_err(StoreError::unexpected)?;
        let (user, frame) = self.frame(notification, unread).await?;
        // Lost for connected clients if this fails; they still find it in the list.
        self.bus.publish(user, frame).await
    }
}

#[derive(Deserialize)]
struct FeedQuery {
    token: Option<String>,
}

/// The handshake: Origin, then the token (bearer or `?token=`, since browsers cannot set
/// headers on a WebSocket), then the subscription, then 101.
async fn feed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = socket_caller(&req, &state, q.token.as_deref(), "the feed").await?;
    let user = principal.user_id.as_uuid();
    let (res, ws, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    // Subscribed before answering 101: a notification stored after the client sees the
    // upgrade is never missed.
    let listener = state.notification_hub.listen(user).await?;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let shutdown = state.rooms.shutdown_signal();
    let caller = Caller {
        state: state.into_inner(),
        principal,
    };
    actix_web::rt::spawn(serve(ws, stream, listener, shutdown, caller));
    Ok(res)
}

/// Who holds a feed connection, rechecked on every heartbeat.
struct Caller {
    state: std::sync::Arc<AppState>,
    principal: domain_identity::Principal,
}

/// Runs one connection until it ends, then closes it.
async fn serve(
    mut ws: Session,
    mut stream: AggregatedMessageStream,
    mut listener: Listener,
    mut shutdown: watch::Receiver<bool>,
    mut caller: Caller,
) {
    let end = run(
        &mut ws,
        &mut stream,
        &mut listener,
        &mut shutdown,
        &mut caller,
    )
    .await;
    drop(listener);
    if let End::Close(reason) = end {
        let _ = timeout(Duration::from_secs(1), ws.close(reason)).await;
    }
}

async fn run(
    ws: &mut Session,
    stream: &mut AggregatedMessageStream,
    listener: &mut Listener,
    shutdown: &mut watch::Receiver<bool>,
    caller: &mut Caller,
) -> End {
    if *shutdown.borrow_and_update() {
        return close(CloseCode::Away, "server shutting down");
    }
    let mut last_heard = Instant::now();
    let mut heartbeat = interval_at(Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let step = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return close(CloseCode::Away, "server shutting down");
                }
                Ok(())
            }
            msg = stream.recv() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(AggregatedMessage::Text(t))) => match auth_token(&t) {
                        Some(token) => {
                            let reply = match socket::renewed(&caller.state, &caller.principal, &token).await {
                                Ok(principal) => {
                                    caller.principal = principal;
                                    socket::auth_ok(&caller.principal)
                                }
                                Err(detail) => error_frame("unauthorized", detail),
                            };
                            send(ws, reply).await
                        }
                        None => send(ws, answer(&t)).await,
                    },
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        send(ws, error_frame("malformed", "frames are JSON text")).await
                    }
                    Some(Ok(AggregatedMessage::Ping(p))) => {
                        ws.pong(&p).await.map_err(|_| End::Gone)
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
                    Some(Ok(AggregatedMessage::Close(reason))) => return End::Close(reason),
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        return close(CloseCode::Size, "frame larger than 64 KiB");
                    }
                    Some(Err(e)) => return close(CloseCode::Protocol, &e.to_string()),
                    None => return End::Gone,
                }
            }
            frame = listener.frames.recv() => match frame {
                Ok(text) => send(ws, text.to_string()).await,
                Err(RecvError::Lagged(_)) => {
                    return close(CloseCode::Again, "too slow: reconnect and read the list");
                }
                Err(RecvError::Closed) => return close(CloseCode::Restart, "feed closed"),
            },
            _ = heartbeat.tick() => {
                if let Err(end) =
                    socket::heartbeat_check(&caller.state, &caller.principal, last_heard).await
                {
                    return end;
                }
                ws.ping(b"").await.map_err(|_| End::Gone)
            }
        };
        if let Err(end) = step {
            return end;
        }
    }
}

/// Sends a text frame, giving up on a client that does not take it in time.
async fn send(ws: &mut Session, text: String) -> Result<(), End> {
    match timeout(SEND_TIMEOUT, ws.text(text)).await {
        Ok(sent) => sent.map_err(|_| End::Gone),
        Err(_) => Err(close(
            CloseCode::Again,
            "too slow: reconnect and read the list",
        )),
    }
}

fn error_frame(code: &str, detail: &str) -> String {
    json!({"type": "error", "code": code, "detail": detail}).to_string()
}

/// The token of an `auth` frame (a renewal: see `socket::renewed`), if `text` is one.
fn auth_token(text: &str) -> Option<String> {
    let value = serde_json::from_str::<Value>(text).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("auth") {
        return None;
    }
    value
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The answer to a client's text frame: the feed only listens, so a `ping` gets a
/// `pong`, an `auth` without a token an error, and anything else an `error` frame.
fn answer(text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return error_frame("malformed", "not JSON");
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => json!({"type": "pong"}).to_string(),
        Some("auth") => error_frame("malformed", "auth: a non-empty \"token\""),
        Some(other) => error_frame(
            "unknown_type",
            &format!("unknown frame type {other:?}: this feed only answers ping and auth"),
        ),
        None => error_frame("malformed", "a frame is an object with a \"type\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ping_is_answered_in_kind() {
        let pong: Value = serde_json::from_str(&answer(r#"{"type":"ping"}"#)).unwrap_or_default();
        assert_eq!(pong, json!({"type": "pong"}));
        for (text, code) in [
            ("{nope", "malformed"),
            (r#"{"kind":"x"}"#, "malformed"),
            (r#"{"type":"message.send"}"#, "unknown_type"),
        ] {
            let f: Value = serde_json::from_str(&answer(text)).unwrap_or_default();
            assert_eq!(
                (f["type"].as_str(), f["code"].as_str()),
                (Some("error"), Some(code))
            );
        }
    }

    #[tokio::test]
    async fn a_feed_lives_while_it_has_listeners_and_frames_reach_them() {
        let bus: Arc<dyn RoomBus> = Arc::new(adapter_memory::MemoryRoomBus::default());
        let hub = NotificationHub::new(bus.clone());
        let user = Uuid::new_v4();
        let a = hub.listen(user).await;
        let b = hub.listen(user).await;
        let (Ok(mut a), Ok(b)) = (a, b) else {
            unreachable!("the memory bus always subscribes")
        };
        assert_eq!(hub.open_feeds(), 1);
        assert!(bus.publish(user, "hello".into()).await.is_ok());
        assert_eq!(a.frames.recv().await.ok().as_deref(), Some("hello"));
        drop(b);
        assert_eq!(hub.open_feeds(), 1);
        drop(a);
        assert_eq!(hub.open_feeds(), 0);
    }
}
