use actix_web::{HttpResponse, web};

use super::{MeResponse, UserDto};
use crate::http::endpoint::Endpoint;
use crate::http::extract::Authenticated;
use crate::http::problem::ApiError;
use crate::http::state::AccountsState;

pub(super) fn endpoint() -> Endpoint {
    Endpoint::get("/api/users/me/", "me")
        .summary("users", "The caller's account and role grants")
        .authenticated()
        .returns::<MeResponse>(200, "The account")
        .to(handle)
}

async fn handle(
    state: web::Data<AccountsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (user, grants) = state.auth.me(&who.0).await?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user: UserDto::from(user),
        roles: grants.into_iter().map(Into::into).collect(),
    }))
}
