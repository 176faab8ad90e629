use actix_web::{HttpResponse, web};

use super::{SessionDto, SessionList};
use crate::http::endpoint::Endpoint;
use crate::http::extract::Authenticated;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::get("/api/users/me/sessions/", "listSessions")
        .summary("users", "The caller's active sessions")
        .authenticated()
        .returns::<SessionList>(200, "Active sessions, newest first")
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let current = who.0.session_id;
    let items = state
        .auth
        .sessions(&who.0)
        .await?
        .into_iter()
        .map(|s| {
            let is_current = s.id == current;
            SessionDto::new(s, is_current)
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}
