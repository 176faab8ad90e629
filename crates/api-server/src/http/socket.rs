//! The handshake checks every WebSocket endpoint shares (debate rooms, the notification
//! feed): the `Origin` allow-list, then the caller's access token — as a bearer header
//! (non-browser clients) or `?token=` (browsers cannot set headers on a WebSocket; the
//! query string is never logged).

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_ws::{CloseCode, CloseReason};
use domain_identity::{Principal, Standing};
use tokio::time::Instant;

use crate::http::problem::ApiError;
use crate::http::state::AppState;

/// Largest frame a client may send.
pub const MAX_FRAME: usize = 64 * 1024;
/// How often the server pings.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A client silent for this long is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

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

/// What every heartbeat checks before pinging: a client silent since `last_heard` for
/// [`CLIENT_TIMEOUT`] is closed with 1008, one no longer signed in with
/// [`SIGNED_OUT_CLOSE_CODE`].
pub(crate) async fn heartbeat_check(
    state: &AppState,
    who: &Principal,
    last_heard: Instant,
) -> Result<(), End> {
    if last_heard.elapsed() > CLIENT_TIMEOUT {
        return Err(close(CloseCode::Policy, "no heartbeat"));
    }
    match signed_out(state, who).await {
        Some(why) => Err(close(CloseCode::Other(SIGNED_OUT_CLOSE_CODE), why)),
        None => Ok(()),
    }
}

/// Whether the handshake's `Origin` may open a socket: absent (non-browser clients), the
/// server's own host, or listed in `AGORA_ALLOWED_ORIGINS` (`*` allows any).
pub(crate) fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if allowed.iter().any(|a| a == "*" || *a == origin) {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match (origin.split_once("://"), host) {
        (Some((_, origin_host)), Some(host)) => origin_host == host,
        _ => false,
    }
}

/// The signed-in caller opening `what` ("the room", "the feed"): 403 for an Origin not
/// allowed, 401 without a valid, unrevoked access token.
pub(crate) async fn socket_caller(
    req: &HttpRequest,
    state: &AppState,
    query_token: Option<&str>,
    what: &str,
) -> Result<Principal, ApiError> {
    if !origin_allowed(req, &state.allowed_origins) {
        return Err(ApiError::Forbidden(format!(
            "this Origin may not open {what} (AGORA_ALLOWED_ORIGINS)"
        )));
    }
    let token = crate::http::extract::bearer(req)
        .or_else(|| query_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "sign in: send the access token as a bearer token or ?token=".into(),
            )
        })?;
    Ok(state.auth.authenticate(token).await?)
}

/// Close code of a socket whose caller is no longer signed in: the access token expired
/// or was revoked (logout, password change, account disabled). Reconnect with a fresh
/// token (in rooms with `?since=`, losing nothing), or renew it in time with an `auth`
/// frame.
pub(crate) const SIGNED_OUT_CLOSE_CODE: u16 = 4401;

/// Why `who` no longer counts as signed in, or `None` while they do. Sockets ask on
/// every heartbeat, so an expiry or a logout ends every open socket within one heartbeat
/// interval. An unreachable revocation list keeps sockets open (logged): a Redis outage
/// must not drop every connection of the platform.
async fn signed_out(state: &AppState, who: &Principal) -> Option<&'static str> {
    match state.auth.recheck(who).await {
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
pub(crate) async fn renewed(
    state: &AppState,
    who: &Principal,
    token: &str,
) -> Result<Principal, &'static str> {
    match state.auth.authenticate(token).await {
        Ok(p) if p.user_id == who.user_id => Ok(p),
        Ok(_) => Err("the token is another user's: a socket cannot change hands"),
        Err(_) => Err("invalid or expired token"),
    }
}

/// The `auth.ok` frame: the token now in force expires at `expires_at`.
pub(crate) fn auth_ok(who: &Principal) -> String {
    serde_json::json!({"type": "auth.ok", "expires_at": who.expires_at}).to_string()
}
