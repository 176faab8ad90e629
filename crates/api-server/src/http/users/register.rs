use actix_web::{HttpResponse, web};

use super::{RegisterRequest, UserDto};
use crate::http::endpoint::Endpoint;
use crate::http::extract::Client;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/register/", "registerUser")
        .summary("users", "Create an account")
        .description(
            "Every invalid field is reported at once in the problem's `errors`. Registrations \
             with valid input are counted per client address; beyond the limit of the window \
             they are refused with 429 and `Retry-After`.",
        )
        .public()
        .body::<RegisterRequest>()
        .required_in_body(&["username", "email", "password"])
        .returns::<UserDto>(201, "The new account")
        .errors(&[409, 422, 429])
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    client: Client,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .auth
        .register_from(&body.username, &body.email, &body.password, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(UserDto::from(user)))
}
