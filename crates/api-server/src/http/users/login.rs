use actix_web::{HttpResponse, web};
use domain_core::FieldError;

use super::{LoginRequest, TokenResponse};
use crate::http::endpoint::Endpoint;
use crate::http::extract::Client;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/login/", "login")
        .summary("users", "Log in with a username or e-mail and a password")
        .description(
            "Unknown accounts and wrong passwords get the same answer. A client address that \
             fails repeatedly on one account is refused for that account with 429 and \
             `Retry-After` (for longer each time); failed answers to an account or from an \
             address under attack are held back. Nobody else is refused for it.",
        )
        .public()
        .body::<LoginRequest>()
        .returns::<TokenResponse>(200, "Access and refresh tokens")
        .errors(&[401, 403, 422, 429])
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    client: Client,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let identifier = body
        .login
        .or(body.username)
        .or(body.email)
        .unwrap_or_default();
    let mut missing = Vec::new();
    if identifier.trim().is_empty() {
        missing.push(FieldError::new(
            "username",
            "give a username or an e-mail address",
        ));
    }
    if body.password.is_empty() {
        missing.push(FieldError::new("password", "is required"));
    }
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let pair = state
        .auth
        .login(&identifier, &body.password, client.0)
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(pair)))
}
