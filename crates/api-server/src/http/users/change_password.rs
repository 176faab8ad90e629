use actix_web::{HttpResponse, web};

use super::ChangePasswordRequest;
use crate::http::endpoint::Endpoint;
use crate::http::extract::Authenticated;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/me/password/", "changePassword")
        .summary("users", "Change the password")
        .description("Needs the current password. Ends every other session of the account.")
        .authenticated()
        .body::<ChangePasswordRequest>()
        .required_in_body(&["current_password", "new_password"])
        .returns_raw(204, "Password changed", None)
        .errors(&[422, 429])
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    who: Authenticated,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .auth
        .change_password(&who.0, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
