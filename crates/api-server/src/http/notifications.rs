//! The caller's own notifications (`/api/notifications/…`): the list, the unread count,
//! marking read, deleting, and the channel chosen per kind. The live feed is the
//! `user:{id}` topic of the sockets (`crate::http::ws`).
//!
//! Every route acts on the signed-in caller's notifications only (`.authenticated()`, as
//! `/api/users/me/…`): the service is always given the caller's id, and another user's
//! notification is not found, so ids cannot be probed.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use domain_core::{FieldError, PageLimit};
use domain_notifications::{Channel, NotificationKind, Preference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::extract::Authenticated;
use super::paging::{next_cursor, uuid_after};
use super::problem::ApiError;
use super::state::NotificationsState;

/// Every notification endpoint.
///
/// The fixed paths (`unread-count`, `read-all`, `preferences`) come before
/// `/api/notifications/{id}/`: the router tries resources in order, and `{id}` would
/// otherwise claim them (and answer 405).
pub fn endpoints() -> Vec<Endpoint> {
    let tag = "notifications";
    vec![
        Endpoint::get("/api/notifications/", "listNotifications")
            .summary(
                tag,
                "The caller's notifications, newest first (`unread=true` for unread ones only, `after`, `limit`)",
            )
            .authenticated()
            .query::<ListQuery>()
            .returns::<NotificationPage>(200, "A page of notifications")
            .errors(&[400])
            .to(list),
        Endpoint::get("/api/notifications/unread-count/", "unreadNotificationCount")
            .summary(tag, "How many of the caller's notifications are unread")
            .authenticated()
            .returns::<UnreadCount>(200, "The unread count")
            .to(unread_count),
        Endpoint::post("/api/notifications/read-all/", "markAllNotificationsRead")
            .summary(tag, "Mark every notification of the caller read")
            .authenticated()
            .returns::<MarkedAll>(200, "How many were unread")
            .to(read_all),
        Endpoint::get("/api/notifications/preferences/", "notificationPreferences")
            .summary(
                tag,
                "The caller's channel (`in_app`, `email`, `both`, `none`) for every kind",
            )
            .authenticated()
            .returns::<PreferenceList>(200, "One entry per kind")
            .to(preferences),
        Endpoint::new(
            Method::PUT,
            "/api/notifications/preferences/{kind}/",
            "setNotificationPreference",
        )
        .summary(tag, "Choose the channel for one kind of notification")
        .description(
            "Applies to notifications created from now on. `none` stores nothing and sends \
             nothing; `email` sends an e-mail without storing an in-app notification.",
        )
        .authenticated()
        .body::<PreferenceRequest>()
        .required_in_body(&["channel"])
        .returns::<PreferenceDto>(200, "The preference now in effect")
        .errors(&[422])
        .to(set_preference),
        Endpoint::post("/api/notifications/{id}/read/", "markNotificationRead")
            .summary(tag, "Mark one of the caller's notifications read")
            .authenticated()
            .returns::<MarkedRead>(200, "Read (marking it again changes nothing)")
            .to(read),
        Endpoint::delete("/api/notifications/{id}/", "deleteNotification")
            .summary(tag, "Delete one of the caller's notifications")
            .authenticated()
            .returns_raw(204, "Deleted", None)
            .to(delete),
    ]
}

pub use crate::dto::notifications::NotificationDto;

/// A page of notifications.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<NotificationDto>,
    /// Cursor of the next page (`after`), while a full page came back.
    pub next: Option<String>,
}

/// The unread count.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct UnreadCount {
    /// Unread notifications of the caller.
    pub count: u64,
}

/// The outcome of marking one notification read.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MarkedRead {
    /// The notification.
    pub id: Uuid,
    /// Whether it was unread until now.
    pub was_unread: bool,
}

/// The outcome of marking every notification read.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MarkedAll {
    /// How many were unread.
    pub marked: u64,
}

/// The channel for one kind.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct PreferenceDto {
    /// The kind.
    #[schemars(schema_with = "crate::http::schema::notification_kind")]
    pub kind: String,
    /// `in_app`, `email`, `both` or `none`.
    #[schemars(schema_with = "crate::http::schema::channel")]
    pub channel: String,
    /// Whether the caller chose it (otherwise it is the kind's default).
    pub chosen: bool,
}

impl From<Preference> for PreferenceDto {
    fn from(p: Preference) -> Self {
        Self {
            kind: p.kind.as_str().to_owned(),
            channel: p.channel.as_str().to_owned(),
            chosen: p.chosen,
        }
    }
}

/// The caller's channel for every kind.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct PreferenceList {
    /// One per kind, in a fixed order.
    pub items: Vec<PreferenceDto>,
}

/// Chooses a channel.
#[derive(Deserialize, JsonSchema)]
pub struct PreferenceRequest {
    /// `in_app`, `email`, `both` or `none`.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::channel")]
    pub channel: String,
}

fn caller(who: &Authenticated) -> Uuid {
    who.0.user_id.as_uuid()
}

/// Filter and paging of the notification list.
#[derive(Deserialize, JsonSchema)]
struct ListQuery {
    /// Unread notifications only.
    #[serde(default)]
    unread: bool,
    /// Cursor from the previous page's `next`.
    after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

async fn list(
    state: web::Data<NotificationsState>,
    who: Authenticated,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let after = uuid_after(q.after.as_deref())?;
    let limit = PageLimit::new(q.limit);
    let items = state
        .notifications
        .list(caller(&who), q.unread, after, limit.get())
        .await?;
    let next = next_cursor(items.last().map(|n| n.id), items.len(), limit);
    Ok(HttpResponse::Ok().json(NotificationPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn unread_count(
    state: web::Data<NotificationsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let count = state.notifications.unread_count(caller(&who)).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { count }))
}

async fn read(
    state: web::Data<NotificationsState>,
    who: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let was_unread = state.notifications.mark_read(caller(&who), id).await?;
    Ok(HttpResponse::Ok().json(MarkedRead { id, was_unread }))
}

async fn read_all(
    state: web::Data<NotificationsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let marked = state.notifications.mark_all_read(caller(&who)).await?;
    Ok(HttpResponse::Ok().json(MarkedAll { marked }))
}

async fn delete(
    state: web::Data<NotificationsState>,
    who: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .notifications
        .delete(caller(&who), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn preferences(
    state: web::Data<NotificationsState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let items = state.notifications.preferences(caller(&who)).await?;
    Ok(HttpResponse::Ok().json(PreferenceList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// The kinds, for error messages.
fn kind_names() -> String {
    NotificationKind::ALL
        .map(NotificationKind::as_str)
        .join(", ")
}

/// The channels, for error messages.
fn channel_names() -> String {
    Channel::ALL.map(Channel::as_str).join(", ")
}

async fn set_preference(
    state: web::Data<NotificationsState>,
    who: Authenticated,
    kind: web::Path<String>,
    body: web::Json<PreferenceRequest>,
) -> Result<HttpResponse, ApiError> {
    // Both checked before answering, so one answer names every bad field.
    let kind = NotificationKind::parse(&kind.into_inner());
    let channel = Channel::parse(&body.channel);
    let mut errors = Vec::new();
    if kind.is_none() {
        errors.push(FieldError::new(
            "kind",
            format!("must be one of {}", kind_names()),
        ));
    }
    if channel.is_none() {
        errors.push(FieldError::new(
            "channel",
            format!("must be one of {}", channel_names()),
        ));
    }
    let (Some(kind), Some(channel)) = (kind, channel) else {
        return Err(ApiError::Validation(errors));
    };
    state
        .notifications
        .set_preference(caller(&who), kind, channel)
        .await?;
    Ok(HttpResponse::Ok().json(PreferenceDto::from(Preference {
        kind,
        channel,
        chosen: true,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_paths_come_before_the_id_path() {
        let paths: Vec<&str> = endpoints().iter().map(|e| e.path).collect();
        let id = paths
            .iter()
            .position(|p| *p == "/api/notifications/{id}/")
            .unwrap_or(usize::MAX);
        for fixed in [
            "/api/notifications/unread-count/",
            "/api/notifications/read-all/",
            "/api/notifications/preferences/",
        ] {
            assert!(
                paths.iter().position(|p| *p == fixed) < Some(id),
                "{fixed} after {{id}}"
            );
        }
    }
}
