//! `/ws/debate/{session_id}/`: the real-time room of a session (protocol in
//! `docs/realtime.md`). The handshake is checked before upgrading (origin, token, read
//! permission); then one task per connection runs a `select!` loop over the client's
//! frames, the room's feed, the heartbeat and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, Session};
use domain_debates::{DebateError, MessageRange, PresenceEntry};
use domain_identity::Principal;
use domain_rbac::{Action, ResourceType, Scope, perm};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};
use uuid::Uuid;

use super::moderation::REMOVED_CLOSE_CODE;
use super::{MessageDto, scope_of};
use crate::http::problem::ApiError;
use crate::http::routes::Endpoint;
use crate::http::socket::{self, End, HEARTBEAT_EVERY, MAX_FRAME, close, socket_caller};
use crate::http::state::AppState;
use crate::realtime::{RoomEvent, RoomMember};
use crate::send_rate::{SendRate, TokenBucket};

/// Longest wait for the client to take a frame before it counts as unable to keep up.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Stored messages read per page when catching up.
const CATCH_UP_PAGE: u32 = 100;
/// Arguments of one connection waiting to be stored; more in flight are refused.
const SENDS_IN_FLIGHT: usize = 16;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/ws/debate/{session_id}/", "debateRoom")
            .summary(
                "debates",
                "Real-time room of a session (WebSocket; see docs/realtime.md)",
            )
            .permission("debate_session.read")
            .hidden()
            .to(room),
    ]
}

#[derive(Deserialize)]
struct RoomQuery {
    token: Option<String>,
    since: Option<i64>,
}

async fn room(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    q: web::Query<RoomQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = socket_caller(&req, &state, q.token.as_deref(), "the room").await?;
    let session = state.debates.session(path.into_inner()).await?;
    let scope = scope_of(&session.scope)?;
    // A room the caller may not read is answered like a room that does not exist.
    state
        .guard
        .require_resource(
            Some(&principal),
            perm(ResourceType::DebateSession, Action::Read),
            scope,
            session.created_by,
            session.visibility.is_public(),
        )
        .await
        .map_err(|e| match e {
            ApiError::Forbidden(_) | ApiError::Unauthorized(_) => {
                ApiError::NotFound("session not found".into())
            }
            other => other,
        })?;
    if state
        .moderation
        .is_removed(session.id, principal.user_id.as_uuid())
        .await?
    {
        return Err(ApiError::Forbidden(
            "removed from this session by a moderator".into(),
        ));
    }
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::Validation(vec![domain_core::FieldError::new(
            "since",
            "must be 0 or more",
        )]));
    }
    let (res, ws, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    let rate = send_rate(&state, &principal, scope).await;
    // Who is in the room is for those who run it; everybody else sees a count.
    let sees_detail = state
        .rbac
        .check(
            Some(principal.user_id.as_uuid()),
            perm(ResourceType::DebateSession, Action::RealtimeManage),
            scope,
            None,
        )
        .await
        .is_ok_and(|d| d.allowed);
    let member = state.rooms.join(session.id).await?;
    // Subscribed first, then the starting point, before answering 101: a message stored
    // after the client sees the upgrade is never missed.
    let after = match q.since {
        Some(since) => since,
        None => {
            let newest = newest_seq(&state, session.id).await?;
            state.rooms.baseline(session.id, newest);
            newest
        }
    };
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let presence = PresenceEntry {
        session_id: session.id,
        connection_id: Uuid::new_v4(),
        user_id: principal.user_id.as_uuid(),
        username: principal.username.clone(),
    };
    let conn = Connection {
        state: state.into_inner(),
        session_id: session.id,
        presence,
        sees_detail,
        scope,
        principal,
        ws,
        last_seq: 0,
        bucket: TokenBucket::new(rate),
        jobs: None,
    };
    actix_web::rt::spawn(conn.run(stream, member, after));
    Ok(res)
}

/// The send rate of the caller's highest-ranked role in the session's scope (chosen once,
/// when the connection opens).
async fn send_rate(state: &AppState, principal: &Principal, scope: Scope) -> SendRate {
    match state
        .rbac
        .roles_in(principal.user_id.as_uuid(), scope)
        .await
    {
        Ok(roles) => state.send_rates.for_roles(&roles),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the caller's roles; using the fallback send rate");
            state.send_rates.for_roles::<&str>(&[])
        }
    }
}

/// Stored messages as room frames, for a room's sequencer to fill a gap once per instance.
pub struct StoredMessages(pub domain_debates::DebateService);

#[async_trait::async_trait]
impl crate::realtime::RoomBackfill for StoredMessages {
    async fn frames(
        &self,
        session_id: Uuid,
        after: i64,
        before: i64,
    ) -> Result<Vec<String>, String> {
        let mut frames = Vec::new();
        let mut after = after;
        // Bounded: a gap is at most the frames that overtook one another on the bus.
        while after + 1 < before && frames.len() < 1000 {
            let page = self
                .0
                .messages(
                    session_id,
                    // ascending from `after` (with `before` the store pages down from it)
                    MessageRange {
                        after: Some(after),
                        before: None,
                    },
                    CATCH_UP_PAGE,
                )
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            after = last;
            frames.extend(page.into_iter().filter(|m| m.seq < before).map(|m| {
                json!({"type": "message.created", "message": MessageDto::from(m)}).to_string()
            }));
        }
        Ok(frames)
    }
}

/// The newest stored sequence number of a session (0 when it has none).
async fn newest_seq(state: &AppState, session_id: Uuid) -> Result<i64, ApiError> {
    let newest = state
        .debates
        .messages(
            session_id,
            MessageRange {
                after: None,
                before: Some(i64::MAX),
            },
            1,
        )
        .await?;
    Ok(newest.last().map_or(0, |m| m.seq))
}

/// A client frame, or why it was refused (`code`, `detail`).
enum ClientFrame {
    Send {
        body: String,
        client_id: String,
        reply_to: Option<i64>,
    },
    Ping,
    /// A fresh access token for this connection (see `socket::renewed`).
    Auth {
        token: String,
    },
}

fn parse_frame(text: &str) -> Result<ClientFrame, (&'static str, String)> {
    #[derive(Deserialize)]
    struct SendFrame {
        body: String,
        client_id: String,
        reply_to: Option<i64>,
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| ("malformed", format!("not JSON: {e}")))?;
    let kind = value.get("type").and_then(Value::as_str).ok_or((
        "malformed",
        "a frame is an object with a \"type\"".to_owned(),
    ))?;
    match kind {
        "ping" => Ok(ClientFrame::Ping),
        "auth" => match value.get("token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Ok(ClientFrame::Auth {
                token: token.to_owned(),
            }),
            _ => Err(("malformed", "auth: a non-empty \"token\"".to_owned())),
        },
        "message.send" => {
            let f: SendFrame = serde_json::from_value(value)
                .map_err(|e| ("malformed", format!("message.send: {e}")))?;
            Ok(ClientFrame::Send {
                body: f.body,
                client_id: f.client_id,
                reply_to: f.reply_to,
            })
        }
        other => Err(("unknown_type", format!("unknown frame type {other:?}"))),
    }
}

fn error_code(e: &ApiError) -> &'static str {
    match e {
        ApiError::Unauthorized(_) => "unauthorized",
        ApiError::Forbidden(_) => "forbidden",
        ApiError::Muted(_) => "muted",
        ApiError::NotFound(_) => "not_found",
        ApiError::Validation(_) | ApiError::BadRequest(_) => "invalid",
        ApiError::Conflict(_) => "conflict",
        ApiError::Unavailable(_) => "unavailable",
        _ => "internal",
    }
}

fn error_detail(e: &ApiError) -> String {
    match e {
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        ApiError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

struct Connection {
    state: Arc<AppState>,
    session_id: Uuid,
    /// This connection in the room's presence.
    presence: PresenceEntry,
    /// Whether it gets the detail of `presence` frames (who), not only the count.
    sees_detail: bool,
    scope: Scope,
    principal: Principal,
    ws: Session,
    /// The last sequence number delivered; anything at or below it is skipped.
    last_seq: i64,
    bucket: TokenBucket,
    /// Arguments handed to this connection's storing task, started with the first
    /// `message.send` (most connections only listen, and an idle connection should cost
    /// as little memory as possible).
    jobs: Option<tokio::sync::mpsc::Sender<SendJob>>,
}

/// An argument received on a connection, to store and broadcast.
struct SendJob {
    body: String,
    client_id: String,
    reply_to: Option<i64>,
}

/// Stores a connection's arguments one by one, in the order sent, answers each (an `ack`
/// or an `error` frame, written to the socket directly) and broadcasts what was stored. It
/// runs beside the connection's loop so that a slow database write never stops that loop
/// from forwarding the room's frames (a sender would otherwise fall behind the room and be
/// closed with 1013). The broadcast goes out as soon as the message is stored — not when
/// the loop gets round to it — because a frame published late holds the room's later ones
/// back (they are delivered in sequence order). The sender still sees its `ack` first: the
/// ack is in the socket's queue before the broadcast is published, and the loop can only
/// queue the `message.created` after the broadcast came back.
async fn store_arguments(
    state: Arc<AppState>,
    principal: Principal,
    scope: Scope,
    session_id: Uuid,
    mut jobs: tokio::sync::mpsc::Receiver<SendJob>,
    mut ws: Session,
) {
    while let Some(job) = jobs.recv().await {
        let (frame, stored) = match post(&state, &principal, scope, session_id, &job.body, job.reply_to).await {
            Ok(message) => (
                json!({"type": "ack", "client_id": job.client_id, "seq": message.seq}).to_string(),
                Some(message),
            ),
            Err(e) => (
                json!({"type": "error", "code": error_code(&e), "detail": error_detail(&e), "client_id": job.client_id})
                    .to_string(),
                None,
            ),
        };
        // A client too slow to take its ack is closed by the connection's loop, which
        // sends it the room's frames; what was stored is broadcast all the same.
        let _ = timeout(SEND_TIMEOUT, ws.text(frame)).await;
        if let Some(message) = stored {
            state.rooms.message_created(session_id, &message).await;
        }
    }
}

/// Stores an argument as `POST …/messages/` does (same permission, same rules), after
/// checking the right to send in real time (`debate_session.realtime_send`).
async fn post(
    state: &AppState,
    principal: &Principal,
    scope: Scope,
    session_id: Uuid,
    body: &str,
    reply_to: Option<i64>,
) -> Result<MessageDto, ApiError> {
    state
        .guard
        .require(
            Some(principal),
            perm(ResourceType::DebateSession, Action::RealtimeSend),
            scope,
            None,
        )
        .await?;
    state
        .guard
        .require(
            Some(principal),
            perm(ResourceType::Message, Action::Create),
            scope,
            None,
        )
        .await?;
    let message = state
        .debates
        .post_message(principal.user_id.as_uuid(), session_id, body, reply_to)
        .await?;
    Ok(MessageDto::from(message))
}

impl Connection {
    async fn run(
        mut self,
        mut stream: AggregatedMessageStream,
        mut member: RoomMember,
        after: i64,
    ) {
        let mut shutdown = self.state.rooms.shutdown_signal();
        // Live frames wait in the member's queue while the backlog is sent.
        self.last_seq = after;
        let start = self.catch_up(None).await;
        let end = match start {
            Err(end) => end,
            Ok(()) => {
                self.state.rooms.arrive(&self.presence).await;
                let end = self.serve(&mut stream, &mut member, &mut shutdown).await;
                self.state.rooms.depart(&self.presence).await;
                end
            }
        };
        drop(member);
        if let End::Close(reason) = end {
            let _ = timeout(Duration::from_secs(1), self.ws.close(reason)).await;
        }
    }

    async fn serve(
        &mut self,
        stream: &mut AggregatedMessageStream,
        member: &mut RoomMember,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> End {
        if *shutdown.borrow_and_update() {
            return close(CloseCode::Away, "server shutting down");
        }
        let mut last_heard = Instant::now();
        // often enough to keep this connection's presence from expiring
        let every = HEARTBEAT_EVERY.min(self.state.rooms.presence_ttl() / 3);
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
                    match msg {
                        Some(Ok(AggregatedMessage::Text(t))) => self.on_text(&t).await,
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            self.error("malformed", "frames are JSON text", None).await
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
                ev = member.events.recv() => match ev {
                    Ok(ev) => self.deliver(&ev).await,
                    Err(RecvError::Lagged(_)) => {
                        return close(CloseCode::Again, "too slow: reconnect with ?since=");
                    }
                    Err(RecvError::Closed) => return close(CloseCode::Restart, "room closed"),
                },
                _ = heartbeat.tick() => {
                    if let Err(end) =
                        socket::heartbeat_check(&self.state, &self.principal, last_heard).await
                    {
                        return end;
                    }
                    if !self.may_still_read().await {
                        return close(
                            CloseCode::Other(REMOVED_CLOSE_CODE),
                            "no longer allowed to read this session",
                        );
                    }
                    // off the loop: a Redis round trip must not hold up the room's frames
                    let (rooms, entry) = (self.state.rooms.clone(), self.presence.clone());
                    tokio::spawn(async move { rooms.still_here(&entry).await });
                    self.ws.ping(b"").await.map_err(|_| End::Gone)
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Whether the caller may still read the session: a membership or grant that ended,
    /// or a debate made private again, closes the socket at the next heartbeat. Storage
    /// trouble is not taken for a revocation.
    async fn may_still_read(&self) -> bool {
        let read = perm(ResourceType::DebateSession, Action::Read);
        let user = Some(self.principal.user_id.as_uuid());
        match self.state.rbac.check(user, read, self.scope, None).await {
            Ok(d) if d.allowed => true,
            // Readable only while public; the visibility may have changed since.
            Ok(_) => match self.state.debates.session(self.session_id).await {
                Ok(s) => s.visibility.is_public(),
                Err(domain_debates::DebateError::NotFound(_)) => false,
                Err(_) => true,
            },
            Err(_) => true,
        }
    }

    /// Sends a text frame, giving up on a client that does not take it in time.
    async fn send(&mut self, text: impl Into<bytestring::ByteString>) -> Result<(), End> {
        let sending = self.ws.text(text.into());
        tokio::pin!(sending);
        // Nearly always the socket's queue has room and this is ready at once; a timer is
        // armed only when it is not (under load a room sends ~100 000 frames a second, and
        // arming and cancelling a timer for each is work for nothing).
        let sent = match futures_util::poll!(&mut sending) {
            std::task::Poll::Ready(sent) => sent,
            std::task::Poll::Pending => match timeout(SEND_TIMEOUT, sending).await {
                Ok(sent) => sent,
                Err(_) => return Err(close(CloseCode::Again, "too slow: reconnect with ?since=")),
            },
        };
        sent.map_err(|_| End::Gone)
    }

    async fn error(
        &mut self,
        code: &str,
        detail: &str,
        client_id: Option<&str>,
    ) -> Result<(), End> {
        let mut frame = json!({"type": "error", "code": code, "detail": detail});
        if let Some(id) = client_id {
            frame["client_id"] = json!(id);
        }
        self.send(frame.to_string()).await
    }

    fn storage_failure(&self, e: DebateError) -> End {
        tracing::warn!(session_id = %self.session_id, error = %e, "room cannot read stored messages");
        close(CloseCode::Again, "storage unavailable")
    }

    /// Sends the stored messages after `last_seq`, below `until` if given.
    async fn catch_up(&mut self, until: Option<i64>) -> Result<(), End> {
        loop {
            let page = self
                .state
                .debates
                .messages(
                    self.session_id,
                    MessageRange {
                        after: Some(self.last_seq),
                        before: None,
                    },
                    CATCH_UP_PAGE,
                )
                .await
                .map_err(|e| self.storage_failure(e))?;
            let full = page.len() == CATCH_UP_PAGE as usize;
            for m in page {
                if until.is_some_and(|u| m.seq >= u) {
                    return Ok(());
                }
                let seq = m.seq;
                let frame =
                    json!({"type": "message.created", "message": MessageDto::from(m)}).to_string();
                self.send(frame).await?;
                self.last_seq = seq;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, ev: &RoomEvent) -> Result<(), End> {
        if let Some(target) = ev.target {
            return self.deliver_targeted(ev, target).await;
        }
        let Some(seq) = ev.seq else {
            return self.send(ev.text_for(self.sees_detail).clone()).await;
        };
        if seq <= self.last_seq {
            return Ok(());
        }
        if seq > self.last_seq + 1 {
            // published out of order, or lost while a subscription reconnected
            self.catch_up(Some(seq)).await?;
        }
        self.send(ev.text.clone()).await?;
        self.last_seq = seq;
        Ok(())
    }

    /// A frame about one participant: for them and for moderators only. A removed
    /// participant's connections close once they have it.
    async fn deliver_targeted(&mut self, ev: &RoomEvent, target: Uuid) -> Result<(), End> {
        let mine = target == self.presence.user_id;
        if mine || self.sees_detail {
            self.send(ev.text.clone()).await?;
        }
        if mine && ev.closes_target {
            return Err(close(
                CloseCode::Other(REMOVED_CLOSE_CODE),
                "removed from this session by a moderator",
            ));
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        if text.len() > MAX_FRAME {
            return Err(close(CloseCode::Size, "message larger than 64 KiB"));
        }
        match parse_frame(text) {
            Err((code, detail)) => self.error(code, &detail, None).await,
            Ok(ClientFrame::Ping) => self.send(json!({"type": "pong"}).to_string()).await,
            Ok(ClientFrame::Auth { token }) => {
                match socket::renewed(&self.state, &self.principal, &token).await {
                    Ok(principal) => {
                        self.principal = principal;
                        self.send(socket::auth_ok(&self.principal)).await
                    }
                    Err(detail) => self.error("unauthorized", detail, None).await,
                }
            }
            Ok(ClientFrame::Send {
                body,
                client_id,
                reply_to,
            }) => {
                if !self.bucket.take() {
                    let detail = format!("too many messages: {}", self.bucket.rate());
                    return self.error("rate_limited", &detail, Some(&client_id)).await;
                }
                let job = SendJob {
                    body,
                    client_id: client_id.clone(),
                    reply_to,
                };
                let jobs = self.jobs.get_or_insert_with(|| {
                    let (jobs, queue) = tokio::sync::mpsc::channel(SENDS_IN_FLIGHT);
                    actix_web::rt::spawn(store_arguments(
                        self.state.clone(),
                        self.principal.clone(),
                        self.scope,
                        self.session_id,
                        queue,
                        self.ws.clone(),
                    ));
                    jobs
                });
                match jobs.try_send(job) {
                    Ok(()) => Ok(()),
                    Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                        self.error(
                            "busy",
                            "too many arguments waiting to be stored; retry",
                            Some(&client_id),
                        )
                        .await
                    }
                    // the storing task ended: only when the socket is gone
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(End::Gone),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_or_say_why() {
        assert!(matches!(
            parse_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"message.send","body":"x","client_id":"c1"}"#),
            Ok(ClientFrame::Send { .. })
        ));
        assert!(matches!(parse_frame("{nope"), Err(("malformed", _))));
        assert!(matches!(
            parse_frame(r#"{"type":"dance"}"#),
            Err(("unknown_type", _))
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"message.send"}"#),
            Err(("malformed", _))
        ));
    }
}
