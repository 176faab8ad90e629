//! Reactions to domain events, wired in `api-server` so that no domain crate calls
//! another: an [`EventDispatcher`] is the [`EventPublisher`] a service is given, and hands
//! each event to the [`EventSubscriber`]s that want it.
//!
//! Today the dispatch runs in the publishing request, after its change committed: a
//! subscriber's failure is logged and never fails the request, but an event is lost if
//! the process dies in between. Recording events in a transactional outbox, in the same
//! PostgreSQL transaction as the change, and reacting from background jobs replaces this
//! next (issue #6); subscribers are idempotent already (notifications carry a
//! de-duplication key), so they can run at least once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, EventPublisher, StoreError};
use domain_debates::{DebateService, moderation_events};
use domain_notifications::{NotificationKind, NotificationService, TITLE_MAX_CHARS};
use serde::Deserialize;
use uuid::Uuid;

/// Something that reacts to domain events.
#[async_trait::async_trait]
pub trait EventSubscriber: Send + Sync {
    /// Whether it reacts to events named `name`.
    fn wants(&self, name: &str) -> bool;

    /// Reacts to one event.
    ///
    /// # Errors
    /// Whatever kept it from reacting; the dispatcher logs it.
    async fn handle(&self, event: &DomainEvent) -> Result<(), String>;
}

/// An [`EventPublisher`] that hands every event to the subscribers that want it, one
/// after the other. Never fails: the change behind the event is committed already, so a
/// subscriber's failure is logged, not reported to the publisher.
#[derive(Default, Clone)]
pub struct EventDispatcher {
    subscribers: Vec<Arc<dyn EventSubscriber>>,
}

impl EventDispatcher {
    /// A dispatcher with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    #[must_use]
    pub fn with(mut self, subscriber: Arc<dyn EventSubscriber>) -> Self {
        self.subscribers.push(subscriber);
        self
    }
}

#[async_trait::async_trait]
impl EventPublisher for EventDispatcher {
    async fn publish(&self, event: DomainEvent) -> Result<(), StoreError> {
        for subscriber in self.subscribers.iter().filter(|s| s.wants(&event.name)) {
            if let Err(e) = subscriber.handle(&event).await {
                tracing::warn!(event = %event.name, event_id = %event.id, error = %e, "an event subscriber failed");
            }
        }
        Ok(())
    }
}

/// Tells a participant of a moderator's action against them (muted, unmuted, warned,
/// removed, an argument of theirs removed), as a `moderation_action` notification keyed
/// by the action's id, so a repeated event notifies once.
pub struct ModerationNotifier {
    notifications: NotificationService,
    debates: DebateService,
    /// Where e-mails are enqueued (an `email.send` job); none only logs them.
    email: Option<crate::jobs::EmailOutbox>,
}

impl ModerationNotifier {
    /// Notifies through `notifications`, reading session titles from `debates`.
    pub fn new(notifications: NotificationService, debates: DebateService) -> Self {
        Self {
            notifications,
            debates,
            email: None,
        }
    }

    /// Sends the e-mails that preferences ask for through `outbox`.
    #[must_use]
    pub fn with_email(mut self, outbox: crate::jobs::EmailOutbox) -> Self {
        self.email = Some(outbox);
        self
    }
}

/// The payload of the moderation events (see `moderation_events`).
#[derive(Deserialize)]
struct ActionPayload {
    action_id: Uuid,
    session_id: Uuid,
    target_user_id: Option<Uuid>,
    reason: Option<String>,
    until: Option<DateTime<Utc>>,
    seq: Option<i64>,
}

/// Longest session title quoted in a notification's title, so the whole fits in
/// [`TITLE_MAX_CHARS`].
const QUOTED_TITLE_CHARS: usize = TITLE_MAX_CHARS - 50;

fn quoted(title: &str) -> String {
    if title.chars().count() <= QUOTED_TITLE_CHARS {
        return title.to_owned();
    }
    let mut short: String = title.chars().take(QUOTED_TITLE_CHARS - 1).collect();
    short.push('…');
    short
}

/// The title and body of the notification for event `name`; `None` for other events.
fn moderation_text(name: &str, session_title: &str, p: &ActionPayload) -> Option<(String, String)> {
    let session = quoted(session_title);
    let reason = p
        .reason
        .as_deref()
        .map_or_else(String::new, |r| format!("Reason: {r}"));
    let (title, mut lines) = match name {
        moderation_events::PARTICIPANT_MUTED => {
            let until = p.until.map_or_else(
                || "Until a moderator lifts it.".to_owned(),
                |t| format!("Until {}.", t.format("%Y-%m-%d %H:%M UTC")),
            );
            (
                format!("You were muted in “{session}”"),
                vec![reason, until],
            )
        }
        moderation_events::PARTICIPANT_UNMUTED => (
            format!("Your mute was lifted in “{session}”"),
            vec!["You may send arguments again.".to_owned()],
        ),
        moderation_events::PARTICIPANT_WARNED => {
            (format!("You were warned in “{session}”"), vec![reason])
        }
        moderation_events::PARTICIPANT_REMOVED => (
            format!("You were removed from “{session}”"),
            vec![reason, "You cannot rejoin this session.".to_owned()],
        ),
        moderation_events::MESSAGE_REMOVED => {
            let which = p
                .seq
                .map_or_else(String::new, |seq| format!("Argument #{seq}. "));
            (
                format!("An argument of yours was removed in “{session}”"),
                vec![format!("{which}{reason}")],
            )
        }
        _ => return None,
    };
    lines.retain(|l| !l.trim().is_empty());
    Some((title, lines.join("\n")))
}

#[async_trait::async_trait]
impl EventSubscriber for ModerationNotifier {
    fn wants(&self, name: &str) -> bool {
        matches!(
            name,
            moderation_events::PARTICIPANT_MUTED
                | moderation_events::PARTICIPANT_UNMUTED
                | moderation_events::PARTICIPANT_WARNED
                | moderation_events::PARTICIPANT_REMOVED
                | moderation_events::MESSAGE_REMOVED
        )
    }

    async fn handle(&self, event: &DomainEvent) -> Result<(), String> {
        let payload: ActionPayload =
            serde_json::from_value(event.payload.clone()).map_err(|e| e.to_string())?;
        let Some(target) = payload.target_user_id else {
            return Ok(());
        };
        let session = self
            .debates
            .session(payload.session_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some((title, body)) = moderation_text(&event.name, &session.title, &payload) else {
            return Ok(());
        };
        let link = format!("/api/debates/sessions/{}/", payload.session_id);
        let key = payload.action_id.to_string();
        let delivery = self
            .notifications
            .notify(
                target,
                NotificationKind::ModerationAction,
                &title,
                &body,
                Some(&link),
                &key,
            )
            .await
            .map_err(|e| e.to_string())?;
        if delivery.email {
            match &self.email {
                // keyed by the action, so a repeated event enqueues one e-mail
                Some(outbox) => {
                    outbox.to_user(target, &title, &body, &key).await?;
                }
                None => crate::wiring::enqueue_email(target, &title, &body, &key).await,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(reason: Option<&str>, until: Option<DateTime<Utc>>) -> ActionPayload {
        ActionPayload {
            action_id: Uuid::nil(),
            session_id: Uuid::nil(),
            target_user_id: Some(Uuid::nil()),
            reason: reason.map(str::to_owned),
            until,
            seq: None,
        }
    }

    #[test]
    fn texts_name_the_session_the_reason_and_the_end() {
        let until = DateTime::parse_from_rfc3339("2030-01-01T10:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let (title, body) = moderation_text(
            moderation_events::PARTICIPANT_MUTED,
            "Round",
            &payload(Some("spam"), until),
        )
        .unwrap_or_default();
        assert_eq!(title, "You were muted in “Round”");
        assert_eq!(body, "Reason: spam\nUntil 2030-01-01 10:30 UTC.");
        let (title, body) = moderation_text(
            moderation_events::PARTICIPANT_WARNED,
            "Round",
            &payload(None, None),
        )
        .unwrap_or_default();
        assert_eq!(
            (title.as_str(), body.as_str()),
            ("You were warned in “Round”", "")
        );
        assert!(
            moderation_text("debates.session_started", "Round", &payload(None, None)).is_none()
        );
    }

    #[test]
    fn long_session_titles_are_shortened_to_fit() {
        let long = "x".repeat(200);
        let (title, _) = moderation_text(
            moderation_events::PARTICIPANT_REMOVED,
            &long,
            &payload(None, None),
        )
        .unwrap_or_default();
        assert!(title.chars().count() <= TITLE_MAX_CHARS, "{title}");
        assert!(title.contains('…'));
    }
}
