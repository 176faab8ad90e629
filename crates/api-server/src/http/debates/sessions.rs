use actix_web::{HttpResponse, web};
use domain_core::PageLimit;
use domain_debates::{SessionFilter, SessionStatus, Side};
use domain_rbac::{Action, ResourceType, perm};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    CreateSessionRequest, JoinRequest, ParticipantDto, ParticipantPage, SessionDto, SessionPage,
    UpdateSessionRequest, client_scope, readable_topic, scope_of, session_in_scope,
    session_to_take_part,
};
use crate::http::endpoint::Endpoint;
use crate::http::guard::Authorize;
use crate::http::paging::{next_cursor, uuid_after};
use crate::http::problem::ApiError;
use crate::http::state::DebatesState;
use crate::http::visible::{ItemAccess, visible_page};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "debates";
    vec![
        Endpoint::get("/api/debates/sessions/", "listDebateSessions")
            .summary(tag, "List the sessions you may read (`?topic=`, `?status=`, `?scope=` narrow; cursor-paginated)")
            .permission("debate_session.read")
            .query::<ListQuery>()
            .returns::<SessionPage>(200, "A page of sessions")
            .errors(&[404, 422])
            .to(list),
        Endpoint::post("/api/debates/sessions/", "createSession")
            .summary(tag, "Schedule a session of a topic")
            .permission("debate_session.create")
            .body::<CreateSessionRequest>()
            .required_in_body(&["title"])
            .returns::<SessionDto>(201, "Scheduled")
            .errors(&[404, 422])
            .to(create),
        Endpoint::get("/api/debates/sessions/{id}/", "getSession")
            .summary(tag, "Read a session")
            .permission("debate_session.read")
            .returns::<SessionDto>(200, "The session")
            .to(get),
        Endpoint::new(actix_web::http::Method::PATCH, "/api/debates/sessions/{id}/", "updateSession")
            .summary(tag, "Change a session's title, schedule or side limit")
            .permission("debate_session.update")
            .body::<UpdateSessionRequest>()
            .returns::<SessionDto>(200, "Updated")
            .errors(&[409, 422])
            .to(update),
        Endpoint::delete("/api/debates/sessions/{id}/", "deleteSession")
            .summary(tag, "Delete a session with its seats and arguments")
            .permission("debate_session.delete")
            .returns_raw(204, "Deleted", None)
            .to(delete),
        Endpoint::post("/api/debates/sessions/{id}/start/", "startSession")
            .summary(tag, "Start a scheduled session (it goes live)")
            .permission("debate_session.realtime_manage")
            .returns::<SessionDto>(200, "Live")
            .errors(&[409])
            .to(start),
        Endpoint::post("/api/debates/sessions/{id}/close/", "closeSession")
            .summary(tag, "Close a live session")
            .permission("debate_session.realtime_manage")
            .returns::<SessionDto>(200, "Closed")
            .errors(&[409])
            .to(close),
        Endpoint::post("/api/debates/sessions/{id}/join/", "joinSession")
            .summary(tag, "Take a seat: `pro`, `con` or `audience`")
            .description("Only for members of the session's scope (listed members or grant holders there), even when the debate is public: the audience needs `debate_session.read` there; a debater seat also needs `debate_session.realtime_send`. A full side is refused with 409.")
            .permission("debate_session.read")
            .body::<JoinRequest>()
            .returns::<ParticipantDto>(200, "Seated")
            .errors(&[409, 422])
            .to(join),
        Endpoint::post("/api/debates/sessions/{id}/leave/", "leaveSession")
            .summary(tag, "Leave one's seat")
            .permission("debate_session.read")
            .returns::<ParticipantDto>(200, "Left")
            .to(leave),
        Endpoint::get("/api/debates/sessions/{id}/participants/", "listParticipants")
            .summary(tag, "Seated participants (cursor-paginated)")
            .permission("debate_session.read")
            .query::<PageQuery>()
            .returns::<ParticipantPage>(200, "A page of seats")
            .to(participants),
    ]
}

/// Filters and paging of the session list.
#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    /// Sessions of this topic only.
    topic: Option<Uuid>,
    /// Sessions in this state only.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::session_status_or_null")]
    status: Option<String>,
    /// Sessions in exactly this scope only.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::scope_or_null")]
    scope: Option<String>,
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn list(
    state: web::Data<DebatesState>,
    auth: Authorize,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let scope = q
        .scope
        .as_deref()
        .map(|s| client_scope("scope", s))
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            SessionStatus::parse(s).ok_or_else(|| {
                ApiError::Validation(vec![domain_core::FieldError::new(
                    "status",
                    "must be scheduled, live or closed",
                )])
            })
        })
        .transpose()?;
    // A topic named by id must be one the caller may read.
    if let Some(topic) = q.topic {
        readable_topic(&state, &auth, topic).await?;
    }
    let scope = scope.map(|s| s.to_string());
    let page = visible_page(
        &state.rbac,
        &auth,
        PageLimit::new(q.limit),
        uuid_after(q.after.as_deref())?,
        async |readable, after, limit| {
            let filter = SessionFilter {
                topic_id: q.topic,
                status,
                scope: scope.clone(),
                readable,
            };
            Ok(state.debates.list_sessions(filter, after, limit).await?)
        },
        |s| {
            Ok(ItemAccess {
                id: s.id,
                scope: scope_of(&s.scope)?,
                owner: s.created_by,
                public: s.visibility.is_public(),
            })
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(SessionPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

async fn create(
    state: web::Data<DebatesState>,
    auth: Authorize,
    body: web::Json<CreateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let topic = readable_topic(&state, &auth, body.topic_id).await?;
    let scope = scope_of(&topic.scope)?;
    auth.require(scope).await?;
    let b = body.into_inner();
    let session = state
        .debates
        .create_session(
            auth.user_id(),
            b.topic_id,
            &b.title,
            b.scheduled_start,
            b.scheduled_end,
            b.max_per_side,
            b.voting_window_seconds,
        )
        .await?;
    Ok(HttpResponse::Created().json(SessionDto::from(session)))
}

/// Loads a session and checks the route's permission in its scope (its creator counts
/// as owner while still present there). A caller who may not read the session gets the
/// 404 of a missing one.
async fn guarded(
    state: &DebatesState,
    auth: &Authorize,
    id: Uuid,
) -> Result<domain_debates::DebateSession, ApiError> {
    let session = state.debates.session(id).await?;
    let scope = scope_of(&session.scope)?;
    auth.require_readable(
        perm(ResourceType::DebateSession, Action::Read),
        "session",
        scope,
        session.created_by,
        session.visibility.is_public(),
    )
    .await?;
    auth.require_on(scope, session.created_by).await?;
    Ok(session)
}

async fn get(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SessionDto::from(session)))
}

async fn update(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<UpdateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let session = guarded(&state, &auth, id.into_inner()).await?;
    let b = body.into_inner();
    let updated = state
        .debates
        .update_session(
            session.id,
            b.title.as_deref(),
            b.scheduled_start,
            b.scheduled_end,
            b.max_per_side,
            b.voting_window_seconds,
        )
        .await?;
    Ok(HttpResponse::Ok().json(SessionDto::from(updated)))
}

async fn delete(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session = guarded(&state, &auth, id.into_inner()).await?;
    state.debates.delete_session(session.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn start(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session = guarded(&state, &auth, id.into_inner()).await?;
    let started = state.debates.start(session.id).await?;
    Ok(HttpResponse::Ok().json(SessionDto::from(started)))
}

async fn close(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session = guarded(&state, &auth, id.into_inner()).await?;
    let closed = state.debates.close(session.id).await?;
    Ok(HttpResponse::Ok().json(SessionDto::from(closed)))
}

async fn join(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<JoinRequest>,
) -> Result<HttpResponse, ApiError> {
    let side = Side::parse(&body.side).ok_or_else(|| {
        ApiError::Validation(vec![domain_core::FieldError::new(
            "side",
            "must be pro, con or audience",
        )])
    })?;
    let (session, scope) = session_to_take_part(&state, &auth, id.into_inner()).await?;
    let who = auth
        .principal
        .as_ref()
        .ok_or_else(|| ApiError::Unauthorized("sign in to take a seat".into()))?;
    if side.is_debater() {
        let send = perm(ResourceType::DebateSession, Action::RealtimeSend);
        auth.require_also(send, scope).await?;
    }
    let seat = state
        .debates
        .join(who.user_id.as_uuid(), session.id, side)
        .await?;
    Ok(HttpResponse::Ok().json(ParticipantDto::from(seat)))
}

async fn leave(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let user = auth
        .user_id()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    let seat = state.debates.leave(user, session.id).await?;
    Ok(HttpResponse::Ok().json(ParticipantDto::from(seat)))
}

/// Paging.
#[derive(Deserialize, schemars::JsonSchema)]
struct PageQuery {
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn participants(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let limit = PageLimit::new(q.limit);
    let items = state
        .debates
        .participants(session.id, uuid_after(q.after.as_deref())?, limit.get())
        .await?;
    let next = next_cursor(items.last().map(|p| p.user_id), items.len(), limit);
    Ok(HttpResponse::Ok().json(ParticipantPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}
