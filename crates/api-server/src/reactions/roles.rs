//! A role granted, told to the user who received it.

use domain_core::DomainEvent;
use domain_notifications::NotificationKind;
use domain_rbac::RbacEvent;

use super::{EventSubscriber, KnownEvent, Notifier, quoted, when};

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

#[async_trait::async_trait]
impl EventSubscriber for RoleNotifier {
    fn wants(&self, event: &KnownEvent) -> bool {
        matches!(event, KnownEvent::Rbac(RbacEvent::RoleGranted { .. }))
    }

    async fn handle(&self, envelope: &DomainEvent, event: &KnownEvent) -> Result<(), String> {
        let KnownEvent::Rbac(RbacEvent::RoleGranted {
            assignment_id,
            user_id,
            role,
            scope,
            expires_at,
            ..
        }) = event
        else {
            return Ok(());
        };
        let title = format!("You were given the role “{}”", quoted(role));
        let until = expires_at.map_or_else(String::new, |t| format!("\nUntil {}.", when(t)));
        let body = format!("In scope {scope}.{until}");
        // Keyed by the assignment: one notice per grant.
        self.notifier
            .tell(
                *user_id,
                NotificationKind::RoleGranted,
                &title,
                &body,
                Some("/api/users/me/"),
                &assignment_id.to_string(),
                envelope.occurred_at,
            )
            .await
    }
}
