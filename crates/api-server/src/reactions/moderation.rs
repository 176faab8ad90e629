//! Moderator actions, told to their target.

use chrono::{DateTime, Utc};
use domain_core::DomainEvent;
use domain_debates::{DebateError, DebateService, moderation_events};
use domain_notifications::NotificationKind;
use serde::Deserialize;
use uuid::Uuid;

use super::{EventSubscriber, Notifier, quoted, when};

/// Tells a participant of a moderator's action against them (muted, unmuted, warned,
/// removed, an argument of theirs removed), as a `moderation_action` notification keyed
/// by the action's id, so a repeated event notifies once.
pub struct ModerationNotifier {
    notifier: Notifier,
    debates: DebateService,
}

impl ModerationNotifier {
    /// Tells through `notifier`, reading session titles from `debates`.
    pub fn new(notifier: Notifier, debates: DebateService) -> Self {
        Self { notifier, debates }
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
                |t| format!("Until {}.", when(t)),
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
        let session = match self.debates.session(payload.session_id).await {
            Ok(session) => session,
            // Deleted since: nothing left to point the target at.
            Err(DebateError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let Some((title, body)) = moderation_text(&event.name, &session.title, &payload) else {
            return Ok(());
        };
        let link = format!("/api/debates/sessions/{}/", payload.session_id);
        // Keyed by the action: a repeated event notifies (and e-mails) once.
        self.notifier
            .tell(
                target,
                NotificationKind::ModerationAction,
                &title,
                &body,
                Some(&link),
                &payload.action_id.to_string(),
                event.occurred_at,
            )
            .await
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
        assert!(
            title.chars().count() <= domain_notifications::TITLE_MAX_CHARS,
            "{title}"
        );
        assert!(title.contains('…'));
    }
}
