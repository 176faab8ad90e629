use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use domain_core::PageLimit;
use domain_debates::MessageRange;
use domain_debates::transcript::TranscriptFormat;
use serde::Deserialize;
use uuid::Uuid;

use super::moderation::reveals_removed;
use super::{MessageDto, MessagePage, PostMessageRequest, session_in_scope};
use crate::http::endpoint::Endpoint;
use crate::http::guard::Authorize;
use crate::http::problem::ApiError;
use crate::http::state::DebatesState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "debates";
    vec![
        Endpoint::get("/api/debates/sessions/{id}/messages/", "listMessages")
            .summary(
                tag,
                "Arguments of a session by sequence number (`after`, `before`, `limit`)",
            )
            .permission("message.read")
            .query::<WindowQuery>()
            .returns::<MessagePage>(200, "A window of arguments, ascending")
            .errors(&[422])
            .to(list),
        Endpoint::post("/api/debates/sessions/{id}/messages/", "postMessage")
            .summary(
                tag,
                "Send an argument (debaters, while the session is live)",
            )
            .permission("message.create")
            .body::<PostMessageRequest>()
            .required_in_body(&["body"])
            .returns::<MessageDto>(201, "Stored, with its sequence number")
            .errors(&[409, 422, 429])
            .to(post),
        Endpoint::get("/api/debates/sessions/{id}/transcript/", "getTranscript")
            .summary(
                tag,
                "The whole transcript: JSON, or `?format=markdown` / `?format=text`",
            )
            .permission("message.read")
            .query::<FormatQuery>()
            .returns_raw(200, "The transcript", Some("application/json"))
            .also_as(&["text/markdown", "text/plain"])
            .errors(&[422])
            .to(transcript),
    ]
}

/// A window of sequence numbers.
#[derive(Deserialize, schemars::JsonSchema)]
struct WindowQuery {
    /// Arguments after this `seq` only (the next page: the last page's `next_after`).
    after: Option<i64>,
    /// Arguments before this `seq` only (older ones: `prev_before`).
    before: Option<i64>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn list(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    q: web::Query<WindowQuery>,
) -> Result<HttpResponse, ApiError> {
    let (session, scope) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let reveal = reveals_removed(&state, &auth, scope).await;
    let limit = PageLimit::new(q.limit);
    let range = MessageRange {
        after: q.after,
        before: q.before,
    };
    let items = state
        .debates
        .messages(session.id, range, limit.get())
        .await?;
    let full = items.len() as u64 == u64::from(limit.get());
    let next_after = if q.before.is_none() && full {
        items.last().map(|m| m.seq)
    } else {
        None
    };
    let prev_before = items.first().map(|m| m.seq).filter(|seq| *seq > 1);
    Ok(HttpResponse::Ok().json(MessagePage {
        items: items
            .into_iter()
            .map(|m| MessageDto::shown(m, reveal))
            .collect(),
        next_after,
        prev_before,
    }))
}

/// Runs the one command for posting an argument (the socket's `message.send` runs the
/// same): same permissions, same send rate per user and session.
async fn post(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<PostMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let author = auth
        .user_id()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    let message = state
        .realtime
        .post_argument
        .run(author, id.into_inner(), &body.body, body.reply_to)
        .await?;
    Ok(HttpResponse::Created().json(MessageDto::from(message)))
}

/// The transcript's format.
#[derive(Deserialize, schemars::JsonSchema)]
struct FormatQuery {
    /// `json` (default), `markdown` (`md`) or `text` (`txt`).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::transcript_format_or_null")]
    format: Option<String>,
}

async fn transcript(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = match q.format.as_deref() {
        None => TranscriptFormat::Json,
        Some(f) => TranscriptFormat::parse(f).ok_or_else(|| {
            ApiError::Validation(vec![domain_core::FieldError::new(
                "format",
                "must be json, markdown or text",
            )])
        })?,
    };
    let (session, scope) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let reveal = reveals_removed(&state, &auth, scope).await;
    let t = state.debates.transcript(session.id).await?;
    if format == TranscriptFormat::Json {
        return Ok(HttpResponse::Ok().json(if reveal { t } else { t.without_removed_text() }));
    }
    // authors by username, looked up once each
    let authors: std::collections::BTreeSet<Uuid> =
        t.messages.iter().map(|m| m.author_id).collect();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for author in authors {
        let name = state
            .auth
            .find_user(domain_identity::UserId(author))
            .await?
            .map_or_else(
                || "(deleted user)".to_owned(),
                |u| u.username.as_str().to_owned(),
            );
        names.insert(author, name);
    }
    let name_of = |id: Uuid| names.get(&id).cloned().unwrap_or_default();
    let text = t.render(format, &name_of, reveal);
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .body(text))
}
