//! Moderation of a debate session: mute, unmute, remove and warn participants, remove
//! messages (`/api/debates/sessions/{id}/moderation/…`), and the record of every action
//! (`/api/moderation/actions/`). Each action takes effect on every instance through the
//! session's room: the target's sockets are told (and, on removal, closed), everybody's
//! copy of a removed message is withdrawn.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_core::PageLimit;
use domain_debates::{ActionFilter, ActionKind, ModerationAction, ScopeRestriction};
use domain_rbac::{Action, ResourceType, Scope, perm};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MessageDto, client_scope, scope_of, session_in_scope};
use crate::http::endpoint::Endpoint;
use crate::http::guard::Authorize;
use crate::http::paging::{next_cursor, uuid_after};
use crate::http::problem::ApiError;
use crate::http::state::DebatesState;
use crate::http::visible::permitted_scopes;

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "moderation";
    let manage = "debate_session.realtime_manage";
    vec![
        Endpoint::post("/api/debates/sessions/{id}/moderation/mute/", "muteParticipant")
            .summary(
                tag,
                "Mute a participant for `duration_seconds`, or until lifted",
            )
            .permission(manage)
            .body::<MuteRequest>()
            .returns::<ModerationActionDto>(201, "Muted; the recorded action")
            .errors(&[409, 422])
            .to(mute),
        Endpoint::post(
            "/api/debates/sessions/{id}/moderation/unmute/",
            "unmuteParticipant",
        )
        .summary(tag, "Lift a participant's mute")
        .permission(manage)
        .body::<TargetRequest>()
        .returns::<ModerationActionDto>(200, "Unmuted; the recorded action")
        .errors(&[409, 422])
        .to(unmute),
        Endpoint::post(
            "/api/debates/sessions/{id}/moderation/remove/",
            "removeParticipant",
        )
        .summary(
            tag,
            "Remove a participant: their sockets are closed (4403) and they cannot rejoin",
        )
        .permission(manage)
        .body::<RemoveRequest>()
        .returns::<ModerationActionDto>(201, "Removed; the recorded action")
        .errors(&[409, 422])
        .to(remove),
        Endpoint::post("/api/debates/sessions/{id}/moderation/warn/", "warnParticipant")
            .summary(tag, "Warn a participant; delivered to them live")
            .permission(manage)
            .body::<WarnRequest>()
            .required_in_body(&["reason"])
            .returns::<ModerationActionDto>(201, "Warned; the recorded action")
            .errors(&[409, 422])
            .to(warn),
        Endpoint::post(
            "/api/debates/sessions/{id}/messages/{seq}/remove/",
            "removeMessage",
        )
        .summary(
            tag,
            "Remove an argument: withdrawn from live clients, shown as removed in the transcript",
        )
        .permission("message.delete")
        .body::<ReasonRequest>()
        .returns::<MessageDto>(200, "The message as moderators now see it")
        .errors(&[409, 422])
        .to(remove_message),
        Endpoint::get("/api/moderation/actions/", "listModerationActions")
            .summary(
                tag,
                "Recorded moderation actions, newest first (`session_id`, `scope`, `target_user_id`, `actor_id`, `kind`, `after`, `limit`)",
            )
            .description(
                "Without `session_id` or `scope`: the actions of every scope where the caller \
                 holds `debate_session.realtime_manage` (their grants' scopes and the units \
                 inside, less any subtree an override denies them), an empty page when there \
                 is none; a guest who moderates nowhere gets 401. `session_id` or `scope` \
                 narrows the list to one session or exactly one scope, which the caller must \
                 moderate (403 otherwise). Keyset-paged: pass `next` as `after`.",
            )
            .permission(manage)
            .query::<ActionsQuery>()
            .returns::<ModerationActionPage>(200, "A page of actions")
            .errors(&[404, 422])
            .to(actions),
    ]
}

/// Mutes a participant.
#[derive(Deserialize, JsonSchema)]
pub struct MuteRequest {
    /// Who.
    pub user_id: Uuid,
    /// For how long (1 s to 30 days); absent: until a moderator lifts it.
    #[schemars(range(min = 1, max = 2_592_000))]
    pub duration_seconds: Option<i64>,
    /// Why (up to 500 characters), shown to them.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::reason_or_null")]
    pub reason: Option<String>,
}

/// Names a participant.
#[derive(Deserialize, JsonSchema)]
pub struct TargetRequest {
    /// Who.
    pub user_id: Uuid,
}

/// Removes a participant.
#[derive(Deserialize, JsonSchema)]
pub struct RemoveRequest {
    /// Who.
    pub user_id: Uuid,
    /// Why (up to 500 characters).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::reason_or_null")]
    pub reason: Option<String>,
}

/// Warns a participant.
#[derive(Deserialize, JsonSchema)]
pub struct WarnRequest {
    /// Who.
    pub user_id: Uuid,
    /// Why (1–500 characters), shown to them.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::reason")]
    pub reason: String,
}

/// An optional reason.
#[derive(Deserialize, JsonSchema, Default)]
pub struct ReasonRequest {
    /// Why (up to 500 characters).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::reason_or_null")]
    pub reason: Option<String>,
}

/// A recorded moderation action.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ModerationActionDto {
    /// Id (time-ordered).
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// The session's scope.
    #[schemars(schema_with = "crate::http::schema::scope")]
    pub scope: String,
    /// Who acted.
    pub actor_id: Uuid,
    /// The participant acted on (not for `remove_message`).
    pub target_user_id: Option<Uuid>,
    /// The message acted on (`remove_message`).
    pub target_seq: Option<i64>,
    /// `mute`, `unmute`, `remove`, `warn` or `remove_message`.
    #[schemars(schema_with = "crate::http::schema::moderation_kind")]
    pub kind: String,
    /// Why.
    pub reason: Option<String>,
    /// A mute's length; absent for a mute until lifted.
    pub duration_seconds: Option<i64>,
    /// When a mute ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<ModerationAction> for ModerationActionDto {
    fn from(a: ModerationAction) -> Self {
        Self {
            id: a.id,
            session_id: a.session_id,
            scope: a.scope,
            actor_id: a.actor_id,
            target_user_id: a.target_user_id,
            target_seq: a.target_seq,
            kind: a.kind.as_str().to_owned(),
            reason: a.reason,
            duration_seconds: a.duration_seconds,
            expires_at: a.expires_at,
            created_at: a.created_at,
        }
    }
}

/// A page of moderation actions.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ModerationActionPage {
    /// Newest first.
    pub items: Vec<ModerationActionDto>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

fn actor(auth: &Authorize) -> Result<Uuid, ApiError> {
    auth.user_id()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))
}

async fn mute(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<MuteRequest>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let action = state
        .moderation
        .mute(
            actor(&auth)?,
            session.id,
            body.user_id,
            body.duration_seconds,
            body.reason.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(ModerationActionDto::from(action)))
}

async fn unmute(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<TargetRequest>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let action = state
        .moderation
        .unmute(actor(&auth)?, session.id, body.user_id)
        .await?;
    Ok(HttpResponse::Ok().json(ModerationActionDto::from(action)))
}

async fn remove(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<RemoveRequest>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let action = state
        .moderation
        .remove(
            actor(&auth)?,
            session.id,
            body.user_id,
            body.reason.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(ModerationActionDto::from(action)))
}

async fn warn(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<WarnRequest>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let action = state
        .moderation
        .warn(actor(&auth)?, session.id, body.user_id, &body.reason)
        .await?;
    Ok(HttpResponse::Created().json(ModerationActionDto::from(action)))
}

async fn remove_message(
    state: web::Data<DebatesState>,
    auth: Authorize,
    path: web::Path<(Uuid, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, seq) = path.into_inner();
    // The body is optional, but one that is there must parse: a reason the moderator
    // typed must not be dropped silently.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<ReasonRequest>(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
            .reason
    };
    let (session, _) = session_in_scope(&state, &auth, id).await?;
    let message = state
        .moderation
        .remove_message(actor(&auth)?, session.id, seq, reason.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(MessageDto::revealed(message)))
}

/// Filters and paging of the action list.
#[derive(Deserialize, JsonSchema)]
struct ActionsQuery {
    /// Actions in this session only.
    session_id: Option<Uuid>,
    /// Actions of sessions in exactly this scope (default: every scope you moderate).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::scope_or_null")]
    scope: Option<String>,
    /// Actions on this participant only.
    target_user_id: Option<Uuid>,
    /// Actions by this moderator only.
    actor_id: Option<Uuid>,
    /// Actions of this kind only.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::moderation_kind_or_null")]
    kind: Option<String>,
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

/// Lists actions. The reader needs `debate_session.realtime_manage` where the actions
/// happened: in the session's scope with `session_id`, in `scope` with `scope` (actions
/// of sessions in exactly that scope); with neither, the list holds the actions of the
/// scopes where they hold it (`RbacService::scopes_with`).
async fn actions(
    state: web::Data<DebatesState>,
    auth: Authorize,
    q: web::Query<ActionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            ActionKind::parse(k).ok_or_else(|| {
                ApiError::Validation(vec![domain_core::FieldError::new(
                    "kind",
                    "must be mute, unmute, remove, warn or remove_message",
                )])
            })
        })
        .transpose()?;
    let after = uuid_after(q.after.as_deref())?;
    let requested = q
        .scope
        .as_deref()
        .map(|s| client_scope("scope", s))
        .transpose()?;
    let scope = match q.session_id {
        Some(session_id) => {
            let session = state.debates.session(session_id).await?;
            let scope = scope_of(&session.scope)?;
            if requested.is_some_and(|r| r != scope) {
                // a session is in one scope: nothing of it is in another
                return Ok(HttpResponse::Ok().json(ModerationActionPage {
                    items: vec![],
                    next: None,
                }));
            }
            Some(scope)
        }
        None => requested,
    };
    // Named, a session or a scope must be one the caller moderates (403 otherwise);
    // unnamed, the list is of every scope where they do, possibly none.
    let readable = match scope {
        Some(scope) => {
            auth.require(scope).await?;
            None
        }
        None => match permitted_scopes(&state.rbac, &auth).await?.as_text() {
            (true, only) if only.is_empty() => {
                return Ok(HttpResponse::Ok().json(ModerationActionPage {
                    items: vec![],
                    next: None,
                }));
            }
            (true, only) => Some(ScopeRestriction::Only(only)),
            (false, but) => Some(ScopeRestriction::AllBut(but)),
        },
    };
    let filter = ActionFilter {
        session_id: q.session_id,
        scope: q
            .session_id
            .is_none()
            .then(|| scope.map(|s| s.to_string()))
            .flatten(),
        target_user_id: q.target_user_id,
        actor_id: q.actor_id,
        kind,
        readable,
    };
    let limit = PageLimit::new(q.limit);
    let items = state.moderation.actions(filter, after, limit.get()).await?;
    let next = next_cursor(items.last().map(|a| a.id), items.len(), limit);
    Ok(HttpResponse::Ok().json(ModerationActionPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

/// Whether the caller may see removed messages' text in this scope.
pub(super) async fn reveals_removed(state: &DebatesState, auth: &Authorize, scope: Scope) -> bool {
    let Some(user) = auth.user_id() else {
        return false;
    };
    state
        .rbac
        .check(
            Some(user),
            perm(ResourceType::Message, Action::Delete),
            scope,
            None,
        )
        .await
        .is_ok_and(|d| d.allowed)
}
