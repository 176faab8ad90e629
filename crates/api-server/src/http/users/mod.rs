//! `/api/users/…`: accounts, tokens and sessions. One file per endpoint.

mod change_password;
mod dto;
mod end_session;
mod list_sessions;
mod login;
mod logout;
mod me;
mod refresh;
mod register;

pub use dto::*;

use super::endpoint::Endpoint;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        register::endpoint(),
        login::endpoint(),
        refresh::endpoint(),
        logout::endpoint(),
        me::endpoint(),
        change_password::endpoint(),
        list_sessions::endpoint(),
        end_session::endpoint(),
    ]
}
