//! The events of the notifications domain, as one typed enum shared by the service that
//! publishes them and the live push that reads them back
//! ([`domain_core::DomainEvent::decode`]).

use domain_core::TypedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Notification;

/// Every event of the notifications domain. The serialised form is tagged with the
/// event's dotted name (`"event": "notifications.created"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum NotificationEvent {
    /// A notification was stored for the app (not on a duplicate); the aggregate is the
    /// notification. For live push.
    #[serde(rename = "notifications.created")]
    Created {
        /// The notification; its fields sit at the payload's top level (`id`,
        /// `user_id`, `kind`, …), as they did before events were typed.
        #[serde(flatten)]
        notification: Notification,
        /// The user's unread count afterwards, when the counter knew it.
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

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use domain_core::DomainEvent;

    use super::*;
    use crate::NotificationKind;

    fn created(unread: Option<u64>) -> NotificationEvent {
        NotificationEvent::Created {
            notification: Notification {
                id: Uuid::from_u128(1),
                user_id: Uuid::from_u128(2),
                kind: NotificationKind::ModerationAction,
                title: "You were warned".into(),
                body: String::new(),
                link: None,
                created_at: DateTime::UNIX_EPOCH,
                read_at: None,
            },
            unread,
        }
    }

    #[test]
    fn a_created_notification_keeps_its_flat_shape_and_reads_back() {
        let envelope = DomainEvent::of(&created(Some(3)), DateTime::UNIX_EPOCH);
        assert_eq!(envelope.aggregate_id, Uuid::from_u128(1));
        assert_eq!(envelope.payload["user_id"], Uuid::from_u128(2).to_string());
        assert_eq!(envelope.payload["unread"], 3);
        assert_eq!(envelope.decode::<NotificationEvent>(), Ok(created(Some(3))));
        let unknown_count = DomainEvent::of(&created(None), DateTime::UNIX_EPOCH);
        assert_eq!(
            unknown_count.decode::<NotificationEvent>(),
            Ok(created(None))
        );
    }
}
