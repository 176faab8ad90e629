//! The socket endpoints (protocol in docs/realtime.md and `/api/asyncapi.json`): the
//! handshake only — Origin, token, and for the legacy single-topic endpoints the
//! subscription, all before the 101 — then the connection is handed to
//! [`crate::realtime::connection`].
//!
//! - `GET /ws/`: one multiplexed socket; the client subscribes to topics.
//! - `GET /ws/debate/{session_id}/?since=`: a socket pre-subscribed to `debate:{id}`
//!   (a room the caller may not read answers 404, as a missing one).
//! - `GET /ws/notifications/`: a socket pre-subscribed to `user:{caller}`.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::AggregatedMessageStream;
use serde::Deserialize;
use uuid::Uuid;

use crate::http::endpoint::Endpoint;
use crate::http::problem::ApiError;
use crate::http::socket::socket_caller;
use crate::http::state::SocketsState;
use crate::realtime::Topic;
use crate::realtime::access::Refusal;
use crate::realtime::connection::{self, MAX_FRAME, Mode};
use crate::realtime::frames::ErrorCode;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/ws/", "socket")
            .summary(
                "realtime",
                "One multiplexed WebSocket: subscribe to topics (protocol: /api/asyncapi.json)",
            )
            .authenticated()
            .query::<SocketQuery>()
            .hidden()
            .to(multiplexed),
        Endpoint::get("/ws/debate/{session_id}/", "debateRoom")
            .summary(
                "debates",
                "Real-time room of a session (WebSocket bound to debate:{id}; see docs/realtime.md)",
            )
            .permission("debate_session.read")
            .query::<SocketQuery>()
            .hidden()
            .to(debate_room),
        Endpoint::get("/ws/notifications/", "notificationFeed")
            .summary(
                "notifications",
                "Live feed of the caller's new notifications (WebSocket bound to user:{id})",
            )
            .authenticated()
            .query::<SocketQuery>()
            .hidden()
            .to(notification_feed),
    ]
}

/// The handshake's query string.
#[derive(Deserialize, schemars::JsonSchema)]
struct SocketQuery {
    /// The access token, for clients that cannot set an `Authorization` header.
    token: Option<String>,
    /// Resume a room after this `seq` (room and notification sockets).
    since: Option<i64>,
}

fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, actix_ws::Session, AggregatedMessageStream), ApiError> {
    let (res, ws, stream) = actix_ws::handle(req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    Ok((res, ws, stream))
}

async fn multiplexed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SocketsState>,
    q: web::Query<SocketQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = socket_caller(&req, &state, q.token.as_deref(), "a socket").await?;
    let (res, ws, stream) = upgrade(&req, body)?;
    let rt = state.realtime.clone();
    actix_web::rt::spawn(connection::serve(
        rt,
        principal,
        ws,
        stream,
        Mode::Multiplexed,
        None,
    ));
    Ok(res)
}

/// A refused handshake subscription as the HTTP answer a legacy client expects.
fn refusal(refusal: Refusal) -> ApiError {
    let (code, detail) = refusal;
    match code {
        ErrorCode::NotFound => ApiError::NotFound("session not found".into()),
        ErrorCode::Forbidden => ApiError::Forbidden(detail),
        _ => ApiError::Unavailable(detail),
    }
}

async fn debate_room(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SocketsState>,
    path: web::Path<Uuid>,
    q: web::Query<SocketQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = socket_caller(&req, &state, q.token.as_deref(), "the room").await?;
    let topic = Topic::Debate(path.into_inner());
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::Validation(vec![domain_core::FieldError::new(
            "since",
            "must be 0 or more",
        )]));
    }
    bound_to(req, body, &state, principal, topic, q.since).await
}

async fn notification_feed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<SocketsState>,
    q: web::Query<SocketQuery>,
) -> Result<HttpResponse, ApiError> {
    let principal = socket_caller(&req, &state, q.token.as_deref(), "the feed").await?;
    let topic = Topic::User(principal.user_id.as_uuid());
    bound_to(req, body, &state, principal, topic, None).await
}

/// A socket bound to `topic`: subscribed during the handshake, then served.
async fn bound_to(
    req: HttpRequest,
    body: web::Payload,
    state: &SocketsState,
    principal: domain_identity::Principal,
    topic: Topic,
    since: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let rt = state.realtime.clone();
    // An unreadable room is refused before the upgrade, like a missing one; the
    // subscription is made before answering 101 (nothing stored afterwards is missed).
    let first = connection::presubscribe(&rt, &principal, topic, since)
        .await
        .map_err(refusal)?;
    let (res, ws, stream) = upgrade(&req, body)?;
    actix_web::rt::spawn(connection::serve(
        rt,
        principal,
        ws,
        stream,
        Mode::Single(topic),
        Some(first),
    ));
    Ok(res)
}
