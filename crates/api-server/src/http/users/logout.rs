use actix_web::{HttpResponse, web};

use crate::http::endpoint::Endpoint;
use crate::http::extract::Authenticated;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/logout/", "logout")
        .summary("users", "End the current session")
        .description(
            "Revokes the session's refresh tokens and the presented access token at once, \
             on every server instance.",
        )
        .authenticated()
        .returns_raw(204, "Logged out", None)
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&who.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
