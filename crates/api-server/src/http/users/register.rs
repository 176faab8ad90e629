use actix_web::{HttpResponse, web};

use super::{RegisterRequest, UserDto};
use crate::http::problem::ApiError;
use crate::http::routes::Endpoint;
use crate::http::state::AppState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::post("/api/users/register/", "registerUser")
        .summary("users", "Create an account")
        .description("Every invalid field is reported at once in the problem's `errors`.")
        .public()
        .body::<RegisterRequest>()
        .required_in_body(&["username", "email", "password"])
        .returns::<UserDto>(201, "The new account")
        .errors(&[409, 422])
        .to(handle)
}

async fn handle(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .auth
        .register(&body.username, &body.email, &body.password)
        .await?;
    Ok(HttpResponse::Created().json(UserDto::from(user)))
}
