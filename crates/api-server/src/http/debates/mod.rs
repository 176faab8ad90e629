//! `/api/debates/…`: topics, sessions, seats, arguments and transcripts. Every route is
//! guarded in the scope of its topic; the debates domain decides what the state allows.

mod dto;
mod messages;
mod moderation;
mod room;
mod sessions;
mod topics;
mod votes;

pub use dto::*;
pub use room::StoredMessages;

use domain_debates::DebateError;
use domain_rbac::Scope;

use super::problem::ApiError;
pub(crate) use super::problem::client_scope;
use super::routes::Endpoint;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut v = topics::endpoints();
    v.extend(sessions::endpoints());
    v.extend(messages::endpoints());
    v.extend(moderation::endpoints());
    v.extend(room::endpoints());
    v.extend(votes::endpoints());
    v
}

impl From<DebateError> for ApiError {
    fn from(e: DebateError) -> Self {
        match e {
            DebateError::Invalid { field, message } => {
                Self::Validation(vec![domain_core::FieldError::new(field, message)])
            }
            DebateError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            DebateError::Conflict(m) => Self::Conflict(m),
            DebateError::NotAllowed(m) => Self::Forbidden(m),
            e @ DebateError::Muted { .. } => Self::Muted(e.to_string()),
            DebateError::Store(s) => s.into(),
        }
    }
}

/// The RBAC scope of a stored debate resource (validated when the topic was created).
fn scope_of(text: &str) -> Result<Scope, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Internal(format!("stored scope {text:?} does not parse")))
}

/// Loads a session (404 when missing) and checks the route's permission in its scope.
async fn session_in_scope(
    state: &super::state::AppState,
    auth: &super::guard::Authorize,
    id: uuid::Uuid,
) -> Result<(domain_debates::DebateSession, Scope), ApiError> {
    let session = state.debates.session(id).await?;
    let scope = scope_of(&session.scope)?;
    auth.require(scope).await?;
    Ok((session, scope))
}
