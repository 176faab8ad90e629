//! One client's socket: `/ws/` (multiplexed: the client subscribes to topics) and the
//! legacy single-topic endpoints `/ws/debate/{id}/` and `/ws/notifications/` (a
//! connection pre-subscribed to one topic, whose end closes the socket as before).
//!
//! One task per connection runs a `select!` loop over the client's frames, the frames of
//! every subscribed topic, access changes, the heartbeat and the shutdown signal.
//! Arguments sent on the socket are stored by a second task, started with the first
//! `message.send`, through the same [`PostArgument`] command as REST.
//!
//! Limits (documented in docs/realtime.md): [`MAX_SUBSCRIPTIONS`] topics per connection,
//! [`FRAMES_PER_SECOND`] client frames per second (bursts of [`FRAME_BURST`]), frames
//! of at most 64 KiB.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use domain_debates::{DebateError, DebateService, MessageRange, PresenceEntry};
use domain_identity::{AuthService, Principal, Standing};
use futures_util::StreamExt;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use uuid::Uuid;

use super::access::{Allowed, TopicAccess};
use super::backfill::{CATCH_UP_PAGE, message_frame, newest_seq};
use super::frames::{CLIENT_TYPES, ClientFrame, ErrorCode, FEED_TYPES, ROOM_TYPES, ServerFrame};
use super::{AccessChange, MemberGuard, Topic, TopicFrame, TopicHub, TopicMember};
use crate::commands::{PostArgument, Refused};
use crate::send_rate::{SendRate, TokenBucket};

/// Largest frame a client may send.
pub const MAX_FRAME: usize = 64 * 1024;
/// How often the server pings.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A client silent for this long is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Topics one connection may subscribe to at once.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Client frames per second a connection may send, sustained (arguments are limited
/// further by the author's send rate).
pub const FRAMES_PER_SECOND: f64 = 20.0;
/// Client frames a connection may send at once after a pause: enough to subscribe to
/// every topic it may have right after connecting.
pub const FRAME_BURST: u32 = 100;
/// Close code of a socket whose caller is no longer signed in: the access token expired
/// or was revoked. Reconnect with a fresh token (resuming with `since`), or renew it in
/// time with an `auth` frame.
pub const SIGNED_OUT_CLOSE_CODE: u16 = 4401;
/// Close code of a single-topic socket whose access ended (removed by a moderator, grant
/// or membership ended, debate made private): 4000 + the HTTP status it stands for.
pub const REMOVED_CLOSE_CODE: u16 = 4403;

/// Longest wait for the client to take a frame before it counts as unable to keep up.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Arguments of one connection waiting to be stored; more in flight are refused.
const SENDS_IN_FLIGHT: usize = 16;

/// What every socket needs, built once at startup. Cheap to share behind an `Arc`.
pub struct Realtime {
    /// The topics of this instance.
    pub hub: TopicHub,
    /// Who may subscribe to what.
    pub access: TopicAccess,
    /// Tokens: rechecked on heartbeats, renewed by `auth` frames.
    pub auth: AuthService,
    /// Stored arguments, for resuming.
    pub debates: DebateService,
    /// The one path for posting an argument.
    pub post_argument: PostArgument,
}

/// How a connection was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/ws/`: the client subscribes to topics and an ended subscription is an `error`
    /// frame; the socket stays open.
    Multiplexed,
    /// A legacy endpoint bound to one topic: `message.send` may leave out the topic, no
    /// `subscribed` frame is sent, and the end of the subscription closes the socket
    /// ([`REMOVED_CLOSE_CODE`]).
    Single(Topic),
}

/// A subscription made during the handshake of a legacy endpoint, before the 101.
pub struct Presubscribed {
    /// The topic.
    pub topic: Topic,
    /// What access allowed.
    pub allowed: Allowed,
    /// Its feed, joined before answering (nothing published after the 101 is missed).
    pub member: TopicMember,
    /// Deliver stored frames after this sequence number.
    pub after: i64,
}

/// Subscribes `principal` to `topic` for a legacy single-topic socket during its
/// handshake, before the 101: authorised like a `subscribe`, joined, and the starting
/// point read after joining, so nothing stored after the client sees the upgrade is
/// missed.
///
/// # Errors
/// The refusal (`not_found`, `forbidden`, `unavailable`), for the handshake to answer.
pub async fn presubscribe(
    rt: &Realtime,
    principal: &Principal,
    topic: Topic,
    since: Option<i64>,
) -> Result<Presubscribed, super::access::Refusal> {
    let allowed = rt
        .access
        .subscribe(principal.user_id.as_uuid(), topic)
        .await?;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(%topic, error = %e, "cannot subscribe a socket");
        (
            ErrorCode::Unavailable,
            "cannot subscribe now; retry".to_owned(),
        )
    };
    let member = rt.hub.join(topic).await.map_err(|e| unavailable(&e))?;
    let after = match (topic, since) {
        (_, Some(since)) => since,
        (Topic::Debate(session_id), None) => {
            let newest = newest_seq(&rt.debates, session_id)
                .await
                .map_err(|e| unavailable(&e))?;
            rt.hub.baseline(topic, newest);
            newest
        }
        (Topic::User(_), None) => 0,
    };
    Ok(Presubscribed {
        topic,
        allowed,
        member,
        after,
    })
}

/// Why a connection ends.
pub(crate) enum End {
    /// The peer went away or the socket broke: nothing more to send.
    Gone,
    /// Close with this reason.
    Close(Option<CloseReason>),
}

/// Ends a connection with `code` and `why`.
pub(crate) fn close(code: CloseCode, why: &str) -> End {
    End::Close(Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    }))
}

/// Serves one socket until it ends, then closes it.
pub async fn serve(
    rt: Arc<Realtime>,
    principal: Principal,
    ws: Session,
    stream: AggregatedMessageStream,
    mode: Mode,
    first: Option<Presubscribed>,
) {
    let access_changes = rt.hub.access_changes();
    let mut conn = Connection {
        rt,
        principal,
        ws,
        mode,
        subs: HashMap::new(),
        feeds: StreamMap::new(),
        frames: TokenBucket::new(SendRate {
            per_second: FRAMES_PER_SECOND,
            burst: FRAME_BURST,
        }),
        sends: None,
        meter: crate::http::metrics::SocketMeter::open(),
    };
    let end = conn.run(stream, access_changes, first).await;
    conn.leave_all().await;
    if let End::Close(reason) = end {
        let _ = timeout(Duration::from_secs(1), conn.ws.close(reason)).await;
    }
}

/// One subscription of a connection.
struct Sub {
    allowed: Allowed,
    /// The last sequence number delivered; anything at or below it is skipped.
    last_seq: i64,
    /// This connection in the room's presence (debate topics).
    presence: Option<PresenceEntry>,
    _guard: MemberGuard,
}

/// An argument received on a connection, to store.
struct QueuedSend {
    session_id: Uuid,
    topic: String,
    body: String,
    client_id: String,
    reply_to: Option<i64>,
}

struct Connection {
    rt: Arc<Realtime>,
    principal: Principal,
    ws: Session,
    mode: Mode,
    subs: HashMap<Topic, Sub>,
    feeds: StreamMap<Topic, BroadcastStream<Arc<TopicFrame>>>,
    /// The client's frame budget: most clients send a frame now and then; a misbehaving
    /// one gets `too_many_frames` instead of the server's attention.
    frames: TokenBucket,
    /// Arguments handed to this connection's storing task, started with the first
    /// `message.send` (most connections only listen, and an idle connection should cost
    /// as little memory as possible).
    sends: Option<tokio::sync::mpsc::Sender<QueuedSend>>,
    /// Counts this connection as open while it lives, and its frames.
    meter: crate::http::metrics::SocketMeter,
}

impl Connection {
    async fn run(
        &mut self,
        mut stream: AggregatedMessageStream,
        access_changes: tokio::sync::broadcast::Receiver<AccessChange>,
        first: Option<Presubscribed>,
    ) -> End {
        let mut shutdown = self.rt.hub.shutdown_signal();
        if *shutdown.borrow_and_update() {
            return close(CloseCode::Away, "server shutting down");
        }
        if let Some(first) = first
            && let Err(end) = self.add(first, false).await
        {
            return end;
        }
        // A stream, not `recv()` in the loop: a `recv()` future made afresh on each turn
        // would register with (and leave) the channel's waiter list — shared by every
        // connection of the instance — once per frame delivered.
        let mut access_changes = BroadcastStream::new(access_changes);
        let mut last_heard = Instant::now();
        // often enough to keep this connection's presence from expiring
        let every = HEARTBEAT_EVERY.min(self.rt.hub.presence_ttl() / 3);
        let mut heartbeat = interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // One wait for the shutdown for the connection's whole life: a `changed()` made
        // afresh on each turn of the loop would register with (and leave) the signal's
        // waiter list — shared by every connection — once per frame delivered.
        let stopping = shutdown.wait_for(|stop| *stop);
        tokio::pin!(stopping);
        loop {
            let step = tokio::select! {
                _ = &mut stopping => return close(CloseCode::Away, "server shutting down"),
                msg = stream.recv() => {
                    last_heard = Instant::now();
                    if let Some(Ok(_)) = &msg {
                        self.meter.frames_in.increment(1);
                    }
                    match msg {
                        Some(Ok(AggregatedMessage::Text(t))) => self.on_text(&t).await,
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            self.error(None, ErrorCode::Malformed, "frames are JSON text").await
                        }
                        Some(Ok(AggregatedMessage::Ping(p))) => {
                            self.ws.pong(&p).await.map_err(|_| End::Gone)
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
                Some((topic, item)) = self.feeds.next(), if !self.feeds.is_empty() => match item {
                    Ok(frame) => self.deliver(topic, &frame).await,
                    Err(BroadcastStreamRecvError::Lagged(_)) => {
                        return close(CloseCode::Again, "too slow: reconnect and resume with since");
                    }
                },
                change = access_changes.next() => match change {
                    Some(Ok(AccessChange::User(user))) if user != self.principal.user_id.as_uuid() => Ok(()),
                    Some(Ok(_) | Err(BroadcastStreamRecvError::Lagged(_))) => self.recheck().await,
                    None => return close(CloseCode::Restart, "server restarting"),
                },
                _ = heartbeat.tick() => self.heartbeat(last_heard).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// What every heartbeat does: drop a silent client or one no longer signed in,
    /// recheck every subscription (a debate made private), refresh presence, ping.
    async fn heartbeat(&mut self, last_heard: Instant) -> Result<(), End> {
        if last_heard.elapsed() > CLIENT_TIMEOUT {
            return Err(close(CloseCode::Policy, "no heartbeat"));
        }
        if let Some(why) = signed_out(&self.rt.auth, &self.principal).await {
            return Err(close(CloseCode::Other(SIGNED_OUT_CLOSE_CODE), why));
        }
        self.recheck().await?;
        for sub in self.subs.values() {
            if let Some(entry) = sub.presence.clone() {
                // off the loop: a Redis round trip must not hold up the frames
                let hub = self.rt.hub.clone();
                tokio::spawn(async move { hub.still_here(&entry).await });
            }
        }
        self.ws.ping(b"").await.map_err(|_| End::Gone)
    }

    /// Drops every subscription the caller may no longer read.
    async fn recheck(&mut self) -> Result<(), End> {
        let user = self.principal.user_id.as_uuid();
        let mut ended = Vec::new();
        for (topic, sub) in &self.subs {
            if !self
                .rt
                .access
                .still_allowed(user, *topic, sub.allowed.scope)
                .await
            {
                ended.push(*topic);
            }
        }
        for topic in ended {
            self.revoke(topic, "no longer allowed to read this topic")
                .await?;
        }
        Ok(())
    }

    /// Ends a subscription the caller lost access to: an `error` frame naming it (the
    /// socket stays open), or on a single-topic socket, the close.
    async fn revoke(&mut self, topic: Topic, why: &str) -> Result<(), End> {
        self.drop_sub(topic).await;
        match self.mode {
            Mode::Single(_) => Err(close(CloseCode::Other(REMOVED_CLOSE_CODE), why)),
            Mode::Multiplexed => {
                self.error(Some(topic.to_string()), ErrorCode::Revoked, why)
                    .await?;
                self.send_frame(&ServerFrame::Unsubscribed {
                    topic: topic.to_string(),
                })
                .await
            }
        }
    }

    async fn drop_sub(&mut self, topic: Topic) {
        self.feeds.remove(&topic);
        if let Some(sub) = self.subs.remove(&topic)
            && let Some(entry) = sub.presence
        {
            self.rt.hub.depart(&entry).await;
        }
    }

    async fn leave_all(&mut self) {
        let topics: Vec<Topic> = self.subs.keys().copied().collect();
        for topic in topics {
            self.drop_sub(topic).await;
        }
    }

    /// Adds a joined subscription: `subscribed` (on `/ws/`), the stored frames after
    /// `after`, then its live frames.
    async fn add(&mut self, joined: Presubscribed, announce: bool) -> Result<(), End> {
        let Presubscribed {
            topic,
            allowed,
            member,
            after,
        } = joined;
        let TopicMember { guard, events } = member;
        let presence = match topic {
            Topic::Debate(session_id) => Some(PresenceEntry {
                session_id,
                connection_id: Uuid::new_v4(),
                user_id: self.principal.user_id.as_uuid(),
                username: self.principal.username.clone(),
            }),
            Topic::User(_) => None,
        };
        self.subs.insert(
            topic,
            Sub {
                allowed,
                last_seq: after,
                presence: presence.clone(),
                _guard: guard,
            },
        );
        // Live frames wait in the member's queue while the backlog is sent.
        self.feeds.insert(topic, BroadcastStream::new(events));
        if announce {
            self.send_frame(&ServerFrame::Subscribed {
                topic: topic.to_string(),
                resumable: topic.resumable(),
            })
            .await?;
        }
        if topic.resumable() {
            self.catch_up(topic, None).await?;
        }
        if let Some(entry) = presence {
            self.rt.hub.arrive(&entry).await;
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        if text.len() > MAX_FRAME {
            return Err(close(CloseCode::Size, "message larger than 64 KiB"));
        }
        // The legacy single-topic sockets keep the limits they always had (their sends are
        // limited by the author's send rate); `/ws/` adds the frame budget.
        if self.mode == Mode::Multiplexed && !self.frames.take() {
            return self
                .error(
                    None,
                    ErrorCode::TooManyFrames,
                    &format!(
                        "at most {FRAMES_PER_SECOND} frames per second (bursts of {FRAME_BURST})"
                    ),
                )
                .await;
        }
        let accepted = match self.mode {
            Mode::Multiplexed => CLIENT_TYPES,
            Mode::Single(Topic::Debate(_)) => ROOM_TYPES,
            Mode::Single(Topic::User(_)) => FEED_TYPES,
        };
        match ClientFrame::parse_among(text, accepted) {
            Err((code, detail)) => self.error(None, code, &detail).await,
            Ok(ClientFrame::Ping) => self.send_frame(&ServerFrame::Pong).await,
            Ok(ClientFrame::Auth { token }) => {
                match renewed(&self.rt.auth, &self.principal, &token).await {
                    Ok(principal) => {
                        self.principal = principal;
                        self.send_frame(&ServerFrame::AuthOk {
                            expires_at: self.principal.expires_at,
                        })
                        .await
                    }
                    Err(detail) => self.error(None, ErrorCode::Unauthorized, detail).await,
                }
            }
            Ok(ClientFrame::Subscribe { topic, since }) => self.subscribe(&topic, since).await,
            Ok(ClientFrame::Unsubscribe { topic }) => self.unsubscribe(&topic).await,
            Ok(ClientFrame::MessageSend {
                topic,
                body,
                client_id,
                reply_to,
            }) => self.send_argument(topic, body, client_id, reply_to).await,
        }
    }

    async fn subscribe(&mut self, name: &str, since: Option<i64>) -> Result<(), End> {
        let shown = || Some(name.chars().take(100).collect::<String>());
        let topic: Topic = match name.parse() {
            Ok(t) => t,
            Err(e) => {
                return self
                    .error(shown(), ErrorCode::UnknownTopic, &e.to_string())
                    .await;
            }
        };
        let named = Some(topic.to_string());
        if self.subs.contains_key(&topic) {
            return self
                .error(named, ErrorCode::AlreadySubscribed, "already subscribed")
                .await;
        }
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            let detail = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection");
            return self
                .error(named, ErrorCode::TooManySubscriptions, &detail)
                .await;
        }
        if since.is_some_and(|s| s < 0) {
            return self
                .error(named, ErrorCode::Malformed, "since: must be 0 or more")
                .await;
        }
        if since.is_some() && !topic.resumable() {
            return self
                .error(
                    named,
                    ErrorCode::Malformed,
                    "since: this topic is not resumable",
                )
                .await;
        }
        let user = self.principal.user_id.as_uuid();
        let allowed = match self.rt.access.subscribe(user, topic).await {
            Ok(a) => a,
            Err((code, detail)) => return self.error(named, code, &detail).await,
        };
        let member = match self.rt.hub.join(topic).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "cannot join a topic");
                return self
                    .error(named, ErrorCode::Unavailable, "cannot subscribe now; retry")
                    .await;
            }
        };
        // Subscribed first, then the starting point: nothing stored in between is missed.
        let after = match (topic, since) {
            (_, Some(since)) => since,
            (Topic::Debate(session_id), None) => {
                match newest_seq(&self.rt.debates, session_id).await {
                    Ok(newest) => {
                        self.rt.hub.baseline(topic, newest);
                        newest
                    }
                    Err(e) => {
                        tracing::warn!(%topic, error = %e, "cannot read where a room stands");
                        return self
                            .error(named, ErrorCode::Unavailable, "cannot subscribe now; retry")
                            .await;
                    }
                }
            }
            (Topic::User(_), None) => 0,
        };
        self.add(
            Presubscribed {
                topic,
                allowed,
                member,
                after,
            },
            true,
        )
        .await
    }

    async fn unsubscribe(&mut self, name: &str) -> Result<(), End> {
        let topic: Option<Topic> = name.parse().ok();
        match topic {
            Some(topic) if self.subs.contains_key(&topic) => {
                self.drop_sub(topic).await;
                self.send_frame(&ServerFrame::Unsubscribed {
                    topic: topic.to_string(),
                })
                .await
            }
            _ => {
                let shown: String = name.chars().take(100).collect();
                self.error(Some(shown), ErrorCode::NotSubscribed, "not subscribed")
                    .await
            }
        }
    }

    async fn send_argument(
        &mut self,
        topic: Option<String>,
        body: String,
        client_id: String,
        reply_to: Option<i64>,
    ) -> Result<(), End> {
        let parsed = match (&topic, self.mode) {
            (Some(name), _) => name.parse::<Topic>().map_err(|e| e.to_string()),
            (None, Mode::Single(t)) => Ok(t),
            (None, Mode::Multiplexed) => Err("message.send: a \"topic\" (debate:{id})".into()),
        };
        let session_id = match parsed {
            Ok(Topic::Debate(id)) => id,
            Ok(other) => {
                let detail = format!("arguments are sent to debate topics, not {}", other.kind());
                return self
                    .refuse(
                        Some(other.to_string()),
                        ErrorCode::Forbidden,
                        &detail,
                        &client_id,
                    )
                    .await;
            }
            Err(why) => {
                return self
                    .refuse(topic, ErrorCode::UnknownTopic, &why, &client_id)
                    .await;
            }
        };
        let send = QueuedSend {
            session_id,
            topic: Topic::Debate(session_id).to_string(),
            body,
            client_id,
            reply_to,
        };
        let sends = self.sends.get_or_insert_with(|| {
            let (sends, queue) = tokio::sync::mpsc::channel(SENDS_IN_FLIGHT);
            actix_web::rt::spawn(store_arguments(
                self.rt.clone(),
                self.principal.user_id.as_uuid(),
                queue,
                self.ws.clone(),
                self.meter.frames_out.clone(),
            ));
            sends
        });
        match sends.try_send(send) {
            Ok(()) => Ok(()),
            Err(tokio::sync::mpsc::error::TrySendError::Full(send)) => {
                self.refuse(
                    Some(send.topic),
                    ErrorCode::Busy,
                    "too many arguments waiting to be stored; retry",
                    &send.client_id,
                )
                .await
            }
            // the storing task ended: only when the socket is gone
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(End::Gone),
        }
    }

    /// Sends a frame, giving up on a client that does not take it in time.
    async fn send(&mut self, text: bytestring::ByteString) -> Result<(), End> {
        let sending = self.ws.text(text);
        tokio::pin!(sending);
        // Nearly always the socket's queue has room and this is ready at once; a timer is
        // armed only when it is not (under load a room sends ~100 000 frames a second, and
        // arming and cancelling a timer for each is work for nothing).
        let sent = match futures_util::poll!(&mut sending) {
            std::task::Poll::Ready(sent) => sent,
            std::task::Poll::Pending => match timeout(SEND_TIMEOUT, sending).await {
                Ok(sent) => sent,
                Err(_) => {
                    return Err(close(
                        CloseCode::Again,
                        "too slow: reconnect and resume with since",
                    ));
                }
            },
        };
        sent.map_err(|_| End::Gone)?;
        self.meter.frames_out.increment(1);
        Ok(())
    }

    async fn send_frame(&mut self, frame: &ServerFrame) -> Result<(), End> {
        self.send(frame.to_text().into()).await
    }

    async fn error(
        &mut self,
        topic: Option<String>,
        code: ErrorCode,
        detail: &str,
    ) -> Result<(), End> {
        self.send_frame(&ServerFrame::error(topic, code, detail))
            .await
    }

    async fn refuse(
        &mut self,
        topic: Option<String>,
        code: ErrorCode,
        detail: &str,
        client_id: &str,
    ) -> Result<(), End> {
        self.send_frame(&ServerFrame::Error {
            topic,
            code,
            detail: detail.to_owned(),
            client_id: Some(client_id.to_owned()),
            retry_after_ms: None,
        })
        .await
    }

    /// Sends the stored messages of `topic` after its `last_seq`, below `until` if given.
    async fn catch_up(&mut self, topic: Topic, until: Option<i64>) -> Result<(), End> {
        let Topic::Debate(session_id) = topic else {
            return Ok(());
        };
        loop {
            let Some(after) = self.subs.get(&topic).map(|s| s.last_seq) else {
                return Ok(());
            };
            let page = self
                .rt
                .debates
                .messages(
                    session_id,
                    MessageRange {
                        after: Some(after),
                        before: None,
                    },
                    CATCH_UP_PAGE,
                )
                .await
                .map_err(|e| storage_failure(topic, &e))?;
            let full = page.len() == CATCH_UP_PAGE as usize;
            for m in page {
                if until.is_some_and(|u| m.seq >= u) {
                    return Ok(());
                }
                let seq = m.seq;
                self.send_frame(&message_frame(m)).await?;
                if let Some(sub) = self.subs.get_mut(&topic) {
                    sub.last_seq = seq;
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, topic: Topic, ev: &TopicFrame) -> Result<(), End> {
        let Some(sub) = self.subs.get(&topic) else {
            return Ok(());
        };
        let (sees_detail, last_seq) = (sub.allowed.sees_detail, sub.last_seq);
        if let Some(target) = ev.target {
            return self.deliver_targeted(topic, ev, target, sees_detail).await;
        }
        let Some(seq) = ev.seq else {
            return self.send(ev.text_for(sees_detail).clone()).await;
        };
        if seq <= last_seq {
            return Ok(());
        }
        if seq > last_seq + 1 {
            // published out of order, or lost while a subscription reconnected
            self.catch_up(topic, Some(seq)).await?;
        }
        self.send(ev.text.clone()).await?;
        if let Some(sub) = self.subs.get_mut(&topic) {
            sub.last_seq = seq;
        }
        Ok(())
    }

    /// A frame about one participant: for them and for moderators only. A removed
    /// participant's subscription ends once they have it.
    async fn deliver_targeted(
        &mut self,
        topic: Topic,
        ev: &TopicFrame,
        target: Uuid,
        sees_detail: bool,
    ) -> Result<(), End> {
        let mine = target == self.principal.user_id.as_uuid();
        if mine || sees_detail {
            self.send(ev.text.clone()).await?;
        }
        if mine && ev.closes_target {
            return self
                .revoke(topic, "removed from this session by a moderator")
                .await;
        }
        Ok(())
    }
}

fn storage_failure(topic: Topic, e: &DebateError) -> End {
    tracing::warn!(%topic, error = %e, "cannot read stored messages for a socket");
    close(CloseCode::Again, "storage unavailable")
}

/// Stores a connection's arguments one by one, in the order sent, answers each (an `ack`
/// or an `error` frame, written to the socket directly). It runs beside the connection's
/// loop so that a slow database write never stops that loop from forwarding frames (a
/// sender would otherwise fall behind the room and be closed with 1013). The stored
/// argument reaches the room through the debates service's event; the sender still sees
/// its `ack` first: the ack is in the socket's queue before the event is published.
async fn store_arguments(
    rt: Arc<Realtime>,
    author: Uuid,
    mut sends: tokio::sync::mpsc::Receiver<QueuedSend>,
    mut ws: Session,
    frames_out: metrics::Counter,
) {
    while let Some(send) = sends.recv().await {
        let frame = match rt
            .post_argument
            .run(author, send.session_id, &send.body, send.reply_to)
            .await
        {
            Ok(message) => ServerFrame::Ack {
                topic: Some(send.topic),
                client_id: send.client_id,
                seq: message.seq,
            },
            Err(refused) => refusal_frame(&refused, send.topic, send.client_id),
        };
        // A client too slow to take its ack is closed by the connection's loop.
        if let Ok(Ok(())) = timeout(SEND_TIMEOUT, ws.text(frame.to_text())).await {
            frames_out.increment(1);
        }
    }
}

/// The `error` frame answering a refused `message.send`.
fn refusal_frame(refused: &Refused, topic: String, client_id: String) -> ServerFrame {
    let (code, retry_after_ms) = match refused {
        Refused::NotFound => (ErrorCode::NotFound, None),
        Refused::Forbidden(_) => (ErrorCode::Forbidden, None),
        Refused::RateLimited { retry_after, .. } => (
            ErrorCode::RateLimited,
            Some(u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX)),
        ),
        Refused::Debate(e) => (
            match e {
                DebateError::Invalid { .. } => ErrorCode::Invalid,
                DebateError::NotFound(_) => ErrorCode::NotFound,
                DebateError::Conflict(_) => ErrorCode::Conflict,
                DebateError::NotAllowed(_) => ErrorCode::Forbidden,
                DebateError::Muted { .. } => ErrorCode::Muted,
                DebateError::Store(_) => ErrorCode::Unavailable,
            },
            None,
        ),
        Refused::Unavailable(_) => (ErrorCode::Unavailable, None),
    };
    let detail = match refused {
        Refused::Debate(DebateError::Invalid { field, message }) => format!("{field}: {message}"),
        Refused::Debate(DebateError::Store(_)) | Refused::Unavailable(_) => {
            "cannot store it now; retry".to_owned()
        }
        other => other.to_string(),
    };
    ServerFrame::Error {
        topic: Some(topic),
        code,
        detail,
        client_id: Some(client_id),
        retry_after_ms,
    }
}

/// Why `who` no longer counts as signed in, or `None` while they do. Sockets ask on
/// every heartbeat, so an expiry or a logout ends every open socket within one heartbeat
/// interval. An unreachable revocation list keeps sockets open (logged): a Redis outage
/// must not drop every connection of the platform.
async fn signed_out(auth: &AuthService, who: &Principal) -> Option<&'static str> {
    match auth.recheck(who).await {
        Ok(Standing::SignedIn) => None,
        Ok(Standing::Expired) => {
            Some("access token expired: renew it with an auth frame, or reconnect")
        }
        Ok(Standing::Revoked) => Some("signed out"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot recheck a socket's token; keeping it open");
            None
        }
    }
}

/// The answer to an `auth {token}` frame: the principal of `token` when it is valid and
/// `who`'s own (a socket cannot change hands), or the `error` frame's detail.
async fn renewed(
    auth: &AuthService,
    who: &Principal,
    token: &str,
) -> Result<Principal, &'static str> {
    match auth.authenticate(token).await {
        Ok(p) if p.user_id == who.user_id => Ok(p),
        Ok(_) => Err("the token is another user's: a socket cannot change hands"),
        Err(_) => Err("invalid or expired token"),
    }
}
