//! Request extractors: the authenticated caller, and the client's identity for sessions
//! and rate limits.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use domain_identity::{ClientInfo, Principal};

use super::problem::ApiError;
use super::state::AccountsState;

/// The caller, authenticated by a valid, unrevoked `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn state(req: &HttpRequest) -> Result<web::Data<AccountsState>, ApiError> {
    req.app_data::<web::Data<AccountsState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing 'Authorization: Bearer <access token>' header".into(),
                )
            })?;
            let principal = state.auth.authenticate(&token).await?;
            tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
            Ok(Self(principal))
        })
    }
}

/// The client's user agent and address.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequest for Client {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust_proxy = req
            .app_data::<web::Data<AccountsState>>()
            .is_some_and(|s| s.trust_proxy);
        let ip = if trust_proxy {
            req.connection_info().realip_remote_addr().map(strip_port)
        } else {
            req.peer_addr().map(|a| a.ip().to_string())
        };
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        std::future::ready(Ok(Self(ClientInfo::new(ua, ip))))
    }
}

fn strip_port(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => addr.to_owned(),
    }
}
