//! The moderation use cases: mute, unmute, remove and warn a participant, remove a
//! message, and the record of it all.
//!
//! Authorisation is not decided here: the caller asks the RBAC service first (moderation
//! rights in the session's scope). This service enforces what the state allows — nobody
//! acts on themselves, a closed session takes no mutes or removals, a message is removed
//! once — and validates input. Each action's effect and its record are stored together
//! by the [`ModerationRepository`] with the [`DebateEvent`] announcing it (the outbox),
//! and the same event is published after the commit for the live rooms.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain_core::{Clock, DomainEvent, EventPublisher, NullEventPublisher, StoreError};
use uuid::Uuid;

use crate::service::{invalid, map_store, micros, not_found, publish, publish_envelope};
use crate::{
    ActionFilter, ActionKind, DebateError, DebateEvent, DebateRepository, DebateSession, Message,
    MessageRemoval, ModerationAction, ModerationNotice, ModerationRepository, Mute, SessionStatus,
};

/// Longest moderation reason, in characters.
pub const REASON_MAX_CHARS: usize = 500;
/// Shortest mute with a duration, in seconds.
pub const MUTE_MIN_SECONDS: i64 = 1;
/// Longest mute with a duration, in seconds: 30 days (longer: mute until lifted).
pub const MUTE_MAX_SECONDS: i64 = 30 * 24 * 3600;

/// The moderation service. Cheap to clone; clones share the repositories, publisher and
/// clock.
#[derive(Clone)]
pub struct ModerationService {
    debates: Arc<dyn DebateRepository>,
    repo: Arc<dyn ModerationRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for ModerationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModerationService").finish_non_exhaustive()
    }
}

/// A reason as typed: surrounding white space dropped, at most [`REASON_MAX_CHARS`]
/// characters, no control characters (reasons are shown on one line, in lists and
/// notifications). Empty becomes `None`.
fn valid_reason(raw: Option<&str>) -> Result<Option<String>, DebateError> {
    let Some(reason) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > REASON_MAX_CHARS {
        return Err(invalid(
            "reason",
            format!("must be at most {REASON_MAX_CHARS} characters long"),
        ));
    }
    domain_core::text::single_line("reason", reason).map_err(crate::service::from_field)?;
    Ok(Some(reason.to_owned()))
}

fn valid_duration(seconds: Option<i64>) -> Result<Option<i64>, DebateError> {
    match seconds {
        Some(s) if !(MUTE_MIN_SECONDS..=MUTE_MAX_SECONDS).contains(&s) => Err(invalid(
            "duration_seconds",
            format!("must be between {MUTE_MIN_SECONDS} and {MUTE_MAX_SECONDS}"),
        )),
        other => Ok(other),
    }
}

fn not_on_self(actor: Uuid, target: Uuid) -> Result<(), DebateError> {
    if actor == target {
        Err(DebateError::NotAllowed(
            "moderators cannot act on themselves".into(),
        ))
    } else {
        Ok(())
    }
}

fn open(session: &DebateSession) -> Result<(), DebateError> {
    if session.status == SessionStatus::Closed {
        Err(DebateError::Conflict("session is closed".into()))
    } else {
        Ok(())
    }
}

impl ModerationService {
    /// A service reading sessions and messages from `debates`, storing moderation (and
    /// the events announcing it) in `repo` and reading the time from `clock`. Publishes
    /// nothing until [`with_events`](Self::with_events) says where.
    pub fn new(
        debates: Arc<dyn DebateRepository>,
        repo: Arc<dyn ModerationRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            debates,
            repo,
            clock,
            events: Arc::new(NullEventPublisher),
        }
    }

    /// The same service, publishing each action's event (and the seat a removal closed)
    /// through `events` after the commit.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        micros(self.clock.now())
    }

    async fn session(&self, id: Uuid) -> Result<DebateSession, DebateError> {
        crate::service::existing_session(self.debates.as_ref(), id).await
    }

    /// An action of `kind` by `actor` in `session`, now, on `target`.
    fn action(
        &self,
        kind: ActionKind,
        actor: Uuid,
        session: &DebateSession,
        target: Option<Uuid>,
        reason: Option<String>,
    ) -> ModerationAction {
        ModerationAction {
            id: Uuid::new_v4(),
            session_id: session.id,
            scope: session.scope.clone(),
            actor_id: actor,
            target_user_id: target,
            target_seq: None,
            kind,
            reason,
            duration_seconds: None,
            expires_at: None,
            created_at: self.now(),
        }
    }

    /// The event announcing `action` (`variant` says which), recorded by the store with
    /// the action and published after the commit.
    fn announcement(
        variant: fn(ModerationNotice) -> DebateEvent,
        action: &ModerationAction,
    ) -> [DomainEvent; 1] {
        let notice = ModerationNotice {
            action_id: action.id,
            session_id: action.session_id,
            scope: action.scope.clone(),
            actor_id: action.actor_id,
            target_user_id: action.target_user_id,
            seq: action.target_seq,
            reason: action.reason.clone(),
            until: action.expires_at,
        };
        [DomainEvent::of(&variant(notice), action.created_at)]
    }

    /// Publishes the envelope recorded with a committed action.
    async fn announce(&self, [event]: [DomainEvent; 1]) {
        publish_envelope(&*self.events, event).await;
    }

    /// Mutes `target` in the session for `duration_seconds` (`None`: until lifted),
    /// replacing any earlier mute, records `debates.participant_muted` (published after
    /// the commit) and returns the recorded action (`expires_at`: when the mute ends).
    /// From then on the store refuses the target's arguments until the mute ends by the
    /// clock or is lifted.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"duration_seconds"` outside
    /// [`MUTE_MIN_SECONDS`]`..=`[`MUTE_MAX_SECONDS`], `"reason"`);
    /// [`DebateError::NotAllowed`] when `actor` is `target`; [`DebateError::NotFound`]
    /// (`"session"`, `"user"`); [`DebateError::Conflict`] when the session is closed;
    /// [`DebateError::Store`].
    pub async fn mute(
        &self,
        actor: Uuid,
        session_id: Uuid,
        target: Uuid,
        duration_seconds: Option<i64>,
        reason: Option<&str>,
    ) -> Result<ModerationAction, DebateError> {
        not_on_self(actor, target)?;
        let duration_seconds = valid_duration(duration_seconds)?;
        let reason = valid_reason(reason)?;
        let session = self.session(session_id).await?;
        open(&session)?;
        let mut action = self.action(ActionKind::Mute, actor, &session, Some(target), reason);
        let until = duration_seconds.map(|s| action.created_at + Duration::seconds(s));
        action.duration_seconds = duration_seconds;
        action.expires_at = until;
        let mute = Mute {
            session_id,
            user_id: target,
            until,
            reason: action.reason.clone(),
            muted_by: actor,
            muted_at: action.created_at,
        };
        let events = Self::announcement(DebateEvent::ParticipantMuted, &action);
        self.repo
            .mute(mute, action.clone(), &events)
            .await
            // The session was read: a missing row is the target.
            .map_err(|e| map_store(e, "user"))?;
        self.announce(events).await;
        Ok(action)
    }

    /// Lifts `target`'s active mute in the session, records it with
    /// `debates.participant_unmuted` (published after the commit) and returns the
    /// recorded action. Allowed in any session state.
    ///
    /// # Errors
    /// [`DebateError::NotAllowed`] when `actor` is `target`; [`DebateError::NotFound`]
    /// (`"session"`); [`DebateError::Conflict`] ("user is not muted") when no mute was
    /// active (nothing recorded; an expired mute is dropped); [`DebateError::Store`].
    pub async fn unmute(
        &self,
        actor: Uuid,
        session_id: Uuid,
        target: Uuid,
    ) -> Result<ModerationAction, DebateError> {
        not_on_self(actor, target)?;
        let session = self.session(session_id).await?;
        let action = self.action(ActionKind::Unmute, actor, &session, Some(target), None);
        let events = Self::announcement(DebateEvent::ParticipantUnmuted, &action);
        let lifted = self
            .repo
            .unmute(action.clone(), &events)
            .await
            .map_err(|e| map_store(e, "session"))?;
        if !lifted {
            return Err(DebateError::Conflict("user is not muted".into()));
        }
        self.announce(events).await;
        Ok(action)
    }

    /// Removes `target` from the session for good: their seat is closed and they cannot
    /// join again. Records `debates.participant_removed` and publishes it after the
    /// commit, followed by `debates.seat_left` (with `left_at` set) when the removal
    /// closed a seat; closing their live connections is the caller's business, after this
    /// returns.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"reason"`); [`DebateError::NotAllowed`] when `actor` is
    /// `target`; [`DebateError::NotFound`] (`"session"`, `"user"`);
    /// [`DebateError::Conflict`] when the session is closed or the target was removed
    /// already; [`DebateError::Store`].
    pub async fn remove(
        &self,
        actor: Uuid,
        session_id: Uuid,
        target: Uuid,
        reason: Option<&str>,
    ) -> Result<ModerationAction, DebateError> {
        not_on_self(actor, target)?;
        let reason = valid_reason(reason)?;
        let session = self.session(session_id).await?;
        open(&session)?;
        let action = self.action(ActionKind::Remove, actor, &session, Some(target), reason);
        let events = Self::announcement(DebateEvent::ParticipantRemoved, &action);
        // Read before: the removal closes the seat, and the rooms need to see it go.
        let seat = self.debates.seat(session_id, target).await?;
        let removed = self
            .repo
            .remove_participant(action.clone(), &events)
            .await
            .map_err(|e| map_store(e, "user"))?;
        if !removed {
            return Err(DebateError::Conflict(
                "user was already removed from this session".into(),
            ));
        }
        self.announce(events).await;
        if let Some(mut participant) = seat {
            participant.left_at = Some(action.created_at);
            let left = DebateEvent::SeatLeft { participant };
            publish(&*self.events, &left, action.created_at).await;
        }
        Ok(action)
    }

    /// Warns `target` with `reason` (required), records `debates.participant_warned` and
    /// publishes it after the commit.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"reason"`: empty once trimmed, too long, control
    /// characters); [`DebateError::NotAllowed`] when `actor` is `target`;
    /// [`DebateError::NotFound`] (`"session"`, `"user"`); [`DebateError::Store`].
    pub async fn warn(
        &self,
        actor: Uuid,
        session_id: Uuid,
        target: Uuid,
        reason: &str,
    ) -> Result<ModerationAction, DebateError> {
        not_on_self(actor, target)?;
        let reason =
            valid_reason(Some(reason))?.ok_or_else(|| invalid("reason", "must not be empty"))?;
        let session = self.session(session_id).await?;
        let action = self.action(
            ActionKind::Warn,
            actor,
            &session,
            Some(target),
            Some(reason),
        );
        let events = Self::announcement(DebateEvent::ParticipantWarned, &action);
        self.repo
            .warn(action.clone(), &events)
            .await
            .map_err(|e| map_store(e, "user"))?;
        self.announce(events).await;
        Ok(action)
    }

    /// Removes the message `seq`: it stays stored, with the removal, and transcripts
    /// show it as removed (its text only to moderators). Returns the message as it now
    /// is, records `debates.message_removed` and publishes it after the commit. Allowed
    /// in any session state: transcripts are moderated after the close too.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"reason"`); [`DebateError::NotFound`] (`"session"`,
    /// `"message"`); [`DebateError::Conflict`] when it was removed already;
    /// [`DebateError::Store`].
    pub async fn remove_message(
        &self,
        actor: Uuid,
        session_id: Uuid,
        seq: i64,
        reason: Option<&str>,
    ) -> Result<Message, DebateError> {
        let reason = valid_reason(reason)?;
        let session = self.session(session_id).await?;
        let message = self
            .debates
            .message(session_id, seq)
            .await?
            .ok_or_else(|| not_found("message"))?;
        if message.removed.is_some() {
            return Err(already_removed());
        }
        let mut action = self.action(
            ActionKind::RemoveMessage,
            actor,
            &session,
            Some(message.author_id),
            reason,
        );
        action.target_seq = Some(seq);
        let events = Self::announcement(DebateEvent::MessageRemoved, &action);
        match self
            .repo
            .remove_message(action.clone(), &events)
            .await
            .map_err(|e| map_store(e, "session"))?
        {
            MessageRemoval::Removed(message) => {
                self.announce(events).await;
                Ok(message)
            }
            // A concurrent removal won between the read and the write.
            MessageRemoval::AlreadyRemoved => Err(already_removed()),
            MessageRemoval::NoSuchMessage => Err(not_found("message")),
        }
    }

    /// `user`'s mute in the session if it is active now.
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn active_mute(
        &self,
        session_id: Uuid,
        user: Uuid,
    ) -> Result<Option<Mute>, DebateError> {
        Ok(self.repo.active_mute(session_id, user, self.now()).await?)
    }

    /// Deletes every mute that ended before now; returns how many. Housekeeping for the
    /// hourly job: an ended mute already stops applying by the clock.
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn purge_expired_mutes(&self) -> Result<u64, DebateError> {
        Ok(self.repo.purge_expired_mutes(self.now()).await?)
    }

    /// Whether a moderator removed `user` from the session.
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn is_removed(&self, session_id: Uuid, user: Uuid) -> Result<bool, DebateError> {
        Ok(self.repo.is_removed(session_id, user).await?)
    }

    /// Recorded actions matching `filter`, newest first, after the action `after` (the
    /// last one of the previous page), at most `limit` (clamp it before). The caller
    /// restricts `filter.scope` / `filter.session_id` to what the reader may see.
    ///
    /// # Errors
    /// [`DebateError::Store`].
    pub async fn actions(
        &self,
        filter: ActionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ModerationAction>, DebateError> {
        self.repo
            .actions(filter, after, limit)
            .await
            .map_err(|e: StoreError| DebateError::Store(e))
    }
}

fn already_removed() -> DebateError {
    DebateError::Conflict("message was already removed".into())
}

#[cfg(test)]
mod tests;
