use actix_web::{HttpResponse, web};
use domain_core::PageLimit;
use serde::Deserialize;
use uuid::Uuid;

use super::{CreateTopicRequest, TopicDto, TopicPage, UpdateTopicRequest, client_scope, scope_of};
use crate::http::guard::Authorize;
use crate::http::paging::{next_cursor, uuid_after};
use crate::http::problem::ApiError;
use crate::http::routes::Endpoint;
use crate::http::state::AppState;

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "debates";
    vec![
        Endpoint::get("/api/debates/topics/", "listTopics")
            .summary(tag, "List debate topics (`?scope=`, cursor-paginated)")
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

async fn list(
    state: web::Data<AppState>,
    auth: Authorize,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = q
        .scope
        .as_deref()
        .map(|s| client_scope("scope", s))
        .transpose()?;
    auth.require(scope.unwrap_or(domain_rbac::Scope::Global))
        .await?;
    let limit = PageLimit::new(q.limit);
    let items = state
        .debates
        .list_topics(
            scope.map(|s| s.to_string()),
            uuid_after(q.after.as_deref())?,
            limit.get(),
        )
        .await?;
    let next = next_cursor(items.last().map(|t| t.id), items.len(), limit);
    Ok(HttpResponse::Ok().json(TopicPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn create(
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let topic = state.debates.topic(id.into_inner()).await?;
    auth.require_on(scope_of(&topic.scope)?, topic.created_by)
        .await?;
    Ok(HttpResponse::Ok().json(TopicDto::from(topic)))
}

async fn update(
    state: web::Data<AppState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<UpdateTopicRequest>,
) -> Result<HttpResponse, ApiError> {
    let topic = state.debates.topic(id.into_inner()).await?;
    auth.require_on(scope_of(&topic.scope)?, topic.created_by)
        .await?;
    let updated = state
        .debates
        .update_topic(topic.id, &body.title, &body.description)
        .await?;
    Ok(HttpResponse::Ok().json(TopicDto::from(updated)))
}

async fn delete(
    state: web::Data<AppState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let topic = state.debates.topic(id.into_inner()).await?;
    auth.require_on(scope_of(&topic.scope)?, topic.created_by)
        .await?;
    state.debates.delete_topic(topic.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
