//! The events of the notifications domain, as one typed enum shared by the service that
//! announces them and the real-time projector that pushes them to the user's feed.

use domain_core::TypedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Notification;

/// Every event of the notifications domain, tagged with its dotted name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum NotificationEvent {
    /// A notification was stored for the app (not on a duplicate); for live push.
    #[serde(rename = "notifications.created")]
    Created {
        /// The notification.
        notification: Notification,
        /// The user's unread count afterwards, when the counter knows it.
        unread: Option<u64>,
    },
}

impl TypedEvent for NotificationEvent {
    const VERSION: u32 = 1;
    const NAMES: &'static [&'static str] = &["notifications.created"];

    fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "notifications.created",
        }
    }

    fn aggregate_id(&self) -> Uuid {
        match self {
            Self::Created { notification, .. } => notification.id,
        }
    }
}
