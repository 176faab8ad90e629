//! Moderator actions, told to their target.

use domain_core::DomainEvent;
use domain_debates::{DebateError, DebateEvent, DebateService, ModerationNotice};
use domain_notifications::NotificationKind;

use super::{EventSubscriber, KnownEvent, Notifier, quoted, when};

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

/// The action an event announces, if it is a moderation event.
fn notice_of(event: &DebateEvent) -> Option<&ModerationNotice> {
    match event {
        DebateEvent::ParticipantMuted(n)
        | DebateEvent::ParticipantUnmuted(n)
        | DebateEvent::ParticipantWarned(n)
        | DebateEvent::ParticipantRemoved(n)
        | DebateEvent::MessageRemoved(n) => Some(n),
        _ => None,
    }
}

/// The title and body of the notification for `event`; `None` for other events.
fn moderation_text(event: &DebateEvent, session_title: &str) -> Option<(String, String)> {
    let p = notice_of(event)?;
    let session = quoted(session_title);
    let reason = p
        .reason
        .as_deref()
        .map_or_else(String::new, |r| format!("Reason: {r}"));
    let (title, mut lines) = match event {
        DebateEvent::ParticipantMuted(_) => {
            let until = p.until.map_or_else(
                || "Until a moderator lifts it.".to_owned(),
                |t| format!("Until {}.", when(t)),
            );
            (
                format!("You were muted in “{session}”"),
                vec![reason, until],
            )
        }
        DebateEvent::ParticipantUnmuted(_) => (
            format!("Your mute was lifted in “{session}”"),
            vec!["You may send arguments again.".to_owned()],
        ),
        DebateEvent::ParticipantWarned(_) => {
            (format!("You were warned in “{session}”"), vec![reason])
        }
        DebateEvent::ParticipantRemoved(_) => (
            format!("You were removed from “{session}”"),
            vec![reason, "You cannot rejoin this session.".to_owned()],
        ),
        DebateEvent::MessageRemoved(_) => {
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
    fn wants(&self, event: &KnownEvent) -> bool {
        matches!(event, KnownEvent::Debates(e) if notice_of(e).is_some())
    }

    async fn handle(&self, envelope: &DomainEvent, event: &KnownEvent) -> Result<(), String> {
        let KnownEvent::Debates(event) = event else {
            return Ok(());
        };
        let Some(payload) = notice_of(event) else {
            return Ok(());
        };
        let Some(target) = payload.target_user_id else {
            return Ok(());
        };
        let session = match self.debates.session(payload.session_id).await {
            Ok(session) => session,
            // Deleted since: nothing left to point the target at.
            Err(DebateError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let Some((title, body)) = moderation_text(event, &session.title) else {
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
                envelope.occurred_at,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;

    fn payload(reason: Option<&str>, until: Option<DateTime<Utc>>) -> ModerationNotice {
        ModerationNotice {
            action_id: Uuid::nil(),
            session_id: Uuid::nil(),
            scope: "global".into(),
            actor_id: Uuid::nil(),
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
            &DebateEvent::ParticipantMuted(payload(Some("spam"), until)),
            "Round",
        )
        .unwrap_or_default();
        assert_eq!(title, "You were muted in “Round”");
        assert_eq!(body, "Reason: spam\nUntil 2030-01-01 10:30 UTC.");
        let (title, body) = moderation_text(
            &DebateEvent::ParticipantWarned(payload(None, None)),
            "Round",
        )
        .unwrap_or_default();
        assert_eq!(
            (title.as_str(), body.as_str()),
            ("You were warned in “Round”", "")
        );
        let started = DebateEvent::SessionStarted {
            session_id: Uuid::nil(),
            topic_id: Uuid::nil(),
            scope: "global".into(),
            title: "Round".into(),
            started_at: DateTime::UNIX_EPOCH,
        };
        assert!(moderation_text(&started, "Round").is_none());
    }

    #[test]
    fn long_session_titles_are_shortened_to_fit() {
        let long = "x".repeat(200);
        let (title, _) =
            moderation_text(&DebateEvent::ParticipantRemoved(payload(None, None)), &long)
                .unwrap_or_default();
        assert!(
            title.chars().count() <= domain_notifications::TITLE_MAX_CHARS,
            "{title}"
        );
        assert!(title.contains('…'));
    }
}
