use actix_web::{HttpResponse, web};

use super::{RefreshRequest, TokenResponse};
use crate::http::endpoint::Endpoint;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/token/refresh/", "refreshToken")
        .summary("users", "Exchange a refresh token for new tokens")
        .description(
            "Refresh tokens rotate: each works once. Presenting one that was already used is \
             answered 401 and revokes its whole session (theft detection).",
        )
        .public()
        .body::<RefreshRequest>()
        .required_in_body(&["refresh"])
        .returns::<TokenResponse>(200, "New access and refresh tokens")
        .errors(&[401])
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = state.auth.refresh(body.refresh.trim()).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(pair)))
}
