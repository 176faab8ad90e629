//! `/api/debates/…`: topics, sessions, seats, arguments and transcripts. Every route is
//! guarded in the scope of its topic; the debates domain decides what the state allows.

mod messages;
mod moderation;
mod sessions;
mod topics;
mod votes;

pub use crate::dto::debates::*;

use domain_rbac::Scope;

use super::endpoint::Endpoint;
use super::problem::ApiError;
pub(crate) use super::problem::client_scope;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut v = topics::endpoints();
    v.extend(sessions::endpoints());
    v.extend(messages::endpoints());
    v.extend(moderation::endpoints());
    v.extend(votes::endpoints());
    v
}

/// The RBAC scope of a stored debate resource (validated when the topic was created).
fn scope_of(text: &str) -> Result<Scope, ApiError> {
    text.parse()
        .map_err(|_| ApiError::internal(format!("stored scope {text:?} does not parse")))
}

/// Loads a session the caller may read — a caller who may not gets the same 404 as for a
/// session that does not exist — and checks the route's permission in its scope, the
/// session's visibility counted.
async fn session_in_scope(
    state: &super::state::DebatesState,
    auth: &super::guard::Authorize,
    id: uuid::Uuid,
) -> Result<(domain_debates::DebateSession, Scope), ApiError> {
    let (session, scope) = readable_session(state, auth, id).await?;
    auth.require_resource(scope, None, session.visibility.is_public())
        .await?;
    Ok((session, scope))
}

/// Loads a session the caller may take part in: joining a seat, posting and voting need
/// the route's permission *as a member of the session's scope* — a public session is read
/// by anybody, but only its institution's people take part. Someone who may read it but
/// not take part gets 403; someone who may not even read it, 404.
async fn session_to_take_part(
    state: &super::state::DebatesState,
    auth: &super::guard::Authorize,
    id: uuid::Uuid,
) -> Result<(domain_debates::DebateSession, Scope), ApiError> {
    let (session, scope) = readable_session(state, auth, id).await?;
    auth.require(scope).await.map_err(|e| match e {
        ApiError::Forbidden(why) if session.visibility.is_public() => ApiError::Forbidden(format!(
            "only members of the debate's scope take part in it ({why})"
        )),
        other => other,
    })?;
    Ok((session, scope))
}

/// Loads a session, 404 unless the caller may read it.
async fn readable_session(
    state: &super::state::DebatesState,
    auth: &super::guard::Authorize,
    id: uuid::Uuid,
) -> Result<(domain_debates::DebateSession, Scope), ApiError> {
    let session = state.debates.session(id).await?;
    let scope = scope_of(&session.scope)?;
    auth.require_readable(
        domain_rbac::perm(
            domain_rbac::ResourceType::DebateSession,
            domain_rbac::Action::Read,
        ),
        "session",
        scope,
        session.created_by,
        session.visibility.is_public(),
    )
    .await?;
    Ok((session, scope))
}

/// Loads a topic the caller may read: 404 otherwise, as for a missing one.
async fn readable_topic(
    state: &super::state::DebatesState,
    auth: &super::guard::Authorize,
    id: uuid::Uuid,
) -> Result<domain_debates::Topic, ApiError> {
    let topic = state.debates.topic(id).await?;
    auth.require_readable(
        domain_rbac::perm(
            domain_rbac::ResourceType::DebateTopic,
            domain_rbac::Action::Read,
        ),
        "topic",
        scope_of(&topic.scope)?,
        topic.created_by,
        topic.visibility.is_public(),
    )
    .await?;
    Ok(topic)
}
