use actix_web::{HttpResponse, web};
use domain_core::PageLimit;
use serde::Deserialize;
use uuid::Uuid;

use domain_debates::{Topic, TopicFilter, Visibility};
use serde_json::json;

use super::{
    CreateTopicRequest, SetVisibilityRequest, TopicDto, TopicPage, UpdateTopicRequest,
    client_scope, readable_topic, scope_of,
};
use crate::http::endpoint::Endpoint;
use crate::http::guard::Authorize;
use crate::http::paging::uuid_after;
use crate::http::problem::ApiError;
use crate::http::state::DebatesState;
use crate::http::visible::{ItemAccess, visible_page};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "debates";
    vec![
        Endpoint::get("/api/debates/topics/", "listTopics")
            .summary(tag, "List the debate topics you may read (`?scope=` narrows; cursor-paginated)")
            .permission("debate_topic.read")
            .query::<ListQuery>()
            .returns::<TopicPage>(200, "A page of topics")
            .errors(&[404, 422])
            .to(list),
        Endpoint::post("/api/debates/topics/", "createTopic")
            .summary(tag, "Create a debate topic in a scope")
            .permission("debate_topic.create")
            .body::<CreateTopicRequest>()
            .required_in_body(&["title"])
            .returns::<TopicDto>(201, "Created")
            .errors(&[404, 422])
            .to(create),
        Endpoint::get("/api/debates/topics/{id}/", "getTopic")
            .summary(tag, "Read a topic")
            .permission("debate_topic.read")
            .returns::<TopicDto>(200, "The topic")
            .to(get),
        Endpoint::new(
            actix_web::http::Method::PATCH,
            "/api/debates/topics/{id}/",
            "updateTopic",
        )
        .summary(tag, "Change a topic's title and description")
        .permission("debate_topic.update")
        .body::<UpdateTopicRequest>()
        .required_in_body(&["title"])
        .returns::<TopicDto>(200, "Updated")
        .errors(&[422])
        .to(update),
        Endpoint::delete("/api/debates/topics/{id}/", "deleteTopic")
            .summary(tag, "Delete a topic with its sessions")
            .permission("debate_topic.delete")
            .returns_raw(204, "Deleted", None)
            .to(delete),
        Endpoint::put("/api/debates/topics/{id}/visibility/", "setTopicVisibility")
            .summary(tag, "Open a topic and its sessions to the public, or make them private to its scope again (audited)")
            .permission("debate_topic.publish")
            .body::<SetVisibilityRequest>()
            .returns::<TopicDto>(200, "The topic with its new visibility")
            .errors(&[422])
            .to(set_visibility),
    ]
}

/// Filter and paging of the topic list.
#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    /// Topics in exactly this scope only.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::scope_or_null")]
    scope: Option<String>,
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

/// Lists the topics the caller may read (`?scope=` narrows to one scope).
async fn list(
    state: web::Data<DebatesState>,
    auth: Authorize,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = q
        .scope
        .as_deref()
        .map(|s| client_scope("scope", s))
        .transpose()?
        .map(|s| s.to_string());
    let page = visible_page(
        &state.rbac,
        &auth,
        PageLimit::new(q.limit),
        uuid_after(q.after.as_deref())?,
        async |readable, after, limit| {
            let filter = TopicFilter {
                scope: scope.clone(),
                readable,
            };
            Ok(state.debates.list_topics(filter, after, limit).await?)
        },
        topic_access,
    )
    .await?;
    Ok(HttpResponse::Ok().json(TopicPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

fn topic_access(t: &Topic) -> Result<ItemAccess, ApiError> {
    Ok(ItemAccess {
        id: t.id,
        scope: scope_of(&t.scope)?,
        owner: t.created_by,
        public: t.visibility.is_public(),
    })
}

async fn create(
    state: web::Data<DebatesState>,
    auth: Authorize,
    body: web::Json<CreateTopicRequest>,
) -> Result<HttpResponse, ApiError> {
    let scope = client_scope("scope", &body.scope)?;
    auth.require(scope).await?;
    let body = body.into_inner();
    let topic = state
        .debates
        .create_topic(
            auth.user_id(),
            &body.title,
            &body.description,
            scope.to_string(),
        )
        .await?;
    Ok(HttpResponse::Created().json(TopicDto::from(topic)))
}

async fn get(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let topic = readable_topic(&state, &auth, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(TopicDto::from(topic)))
}

async fn update(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<UpdateTopicRequest>,
) -> Result<HttpResponse, ApiError> {
    let topic = readable_topic(&state, &auth, id.into_inner()).await?;
    auth.require_on(scope_of(&topic.scope)?, topic.created_by)
        .await?;
    let updated = state
        .debates
        .update_topic(topic.id, &body.title, &body.description)
        .await?;
    Ok(HttpResponse::Ok().json(TopicDto::from(updated)))
}

async fn delete(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let topic = readable_topic(&state, &auth, id.into_inner()).await?;
    auth.require_on(scope_of(&topic.scope)?, topic.created_by)
        .await?;
    state.debates.delete_topic(topic.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Opens a topic and its sessions to the public, or closes them again: the institution's
/// decision (`debate_topic.publish` in the topic's scope; ownership does not count), recorded
/// in the audit log.
async fn set_visibility(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<SetVisibilityRequest>,
) -> Result<HttpResponse, ApiError> {
    let topic = readable_topic(&state, &auth, id.into_inner()).await?;
    let scope = scope_of(&topic.scope)?;
    auth.require(scope).await?;
    let visibility: Visibility = body.visibility.into();
    let updated = state.debates.set_visibility(topic.id, visibility).await?;
    if topic.visibility != visibility {
        state
            .rbac
            .record_change(
                &auth.actor(),
                "debate_topic.visibility",
                format!("debate_topic:{}", topic.id),
                Some(scope),
                Some(json!({ "visibility": topic.visibility.as_str() })),
                Some(json!({ "visibility": visibility.as_str() })),
            )
            .await?;
    }
    Ok(HttpResponse::Ok().json(TopicDto::from(updated)))
}
