//! The handshake checks every WebSocket endpoint shares (`/ws/` and the legacy
//! single-topic endpoints): the `Origin` allow-list, then the caller's access token — as a bearer header
//! (non-browser clients) or `?token=` (browsers cannot set headers on a WebSocket; the
//! query string is never logged).

use actix_web::HttpRequest;
use actix_web::http::header;
use domain_identity::Principal;

use crate::http::problem::ApiError;
use crate::http::state::SocketsState;

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
    state: &SocketsState,
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
