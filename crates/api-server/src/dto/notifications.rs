//! Notifications as clients see them, on REST and on the sockets.

use chrono::{DateTime, Utc};
use domain_notifications::Notification;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A notification as clients see it.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct NotificationDto {
    /// Id.
    pub id: Uuid,
    /// `debate_scheduled`, `session_rescheduled`, `moderation_action`,
    /// `results_published` or `role_granted`.
    #[schemars(schema_with = "crate::http::schema::notification_kind")]
    pub kind: String,
    /// One line.
    pub title: String,
    /// More detail; may be empty.
    pub body: String,
    /// Path of the resource it is about, on this API.
    pub link: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was read; absent while unread.
    pub read_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationDto {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind.as_str().to_owned(),
            title: n.title,
            body: n.body,
            link: n.link,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}
