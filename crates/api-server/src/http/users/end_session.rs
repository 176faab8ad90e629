use actix_web::{HttpResponse, web};
use domain_identity::SessionId;

use crate::http::endpoint::Endpoint;
use crate::http::extract::Authenticated;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::delete("/api/users/me/sessions/{id}/", "endSession")
        .summary("users", "End one of the caller's sessions")
        .authenticated()
        .returns_raw(204, "Session ended", None)
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .auth
        .end_session(&who.0, SessionId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
