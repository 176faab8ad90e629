//! A role granted, told to the user who received it.

use chrono::{DateTime, Utc};
use domain_core::DomainEvent;
use domain_notifications::NotificationKind;
use domain_rbac::rbac_events;
use serde::Deserialize;
use uuid::Uuid;

use super::{EventSubscriber, Notifier, quoted, when};

/// Tells of `rbac.role_granted`.
pub struct RoleNotifier {
    notifier: Notifier,
}

impl RoleNotifier {
    /// Tells through `notifier`.
    pub fn new(notifier: Notifier) -> Self {
        Self { notifier }
    }
}

#[derive(Deserialize)]
struct Granted {
    assignment_id: Uuid,
    user_id: Uuid,
    role: String,
    scope: String,
    expires_at: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
impl EventSubscriber for RoleNotifier {
    fn wants(&self, name: &str) -> bool {
        name == rbac_events::ROLE_GRANTED
    }

    async fn handle(&self, event: &DomainEvent) -> Result<(), String> {
        let g: Granted =
            serde_json::from_value(event.payload.clone()).map_err(|e| e.to_string())?;
        let title = format!("You were given the role “{}”", quoted(&g.role));
        let until = g
            .expires_at
            .map_or_else(String::new, |t| format!("\nUntil {}.", when(t)));
        let body = format!("In scope {}.{until}", g.scope);
        // Keyed by the assignment: one notice per grant.
        self.notifier
            .tell(
                g.user_id,
                NotificationKind::RoleGranted,
                &title,
                &body,
                Some("/api/users/me/"),
                &g.assignment_id.to_string(),
                event.occurred_at,
            )
            .await
    }
}
