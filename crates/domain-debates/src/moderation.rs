//! Moderation of a session: mutes, removals (bans), warnings and message removals, each
//! recorded as a [`ModerationAction`]; and the port that stores them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Message;

/// What a moderator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Silenced a participant, for a time or until lifted.
    Mute,
    /// Lifted a mute.
    Unmute,
    /// Removed a participant from the session for good.
    Remove,
    /// Warned a participant.
    Warn,
    /// Removed a message.
    RemoveMessage,
}

impl ActionKind {
    /// Text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Remove => "remove",
            Self::Warn => "warn",
            Self::RemoveMessage => "remove_message",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mute" => Some(Self::Mute),
            "unmute" => Some(Self::Unmute),
            "remove" => Some(Self::Remove),
            "warn" => Some(Self::Warn),
            "remove_message" => Some(Self::RemoveMessage),
            _ => None,
        }
    }
}

/// One recorded moderation action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationAction {
    /// Id.
    pub id: Uuid,
    /// The session acted in.
    pub session_id: Uuid,
    /// The session's scope, copied so actions can be listed per scope.
    pub scope: String,
    /// The moderator.
    pub actor_id: Uuid,
    /// The participant acted on (for a message removal: the message's author).
    pub target_user_id: Option<Uuid>,
    /// The message acted on, for [`ActionKind::RemoveMessage`].
    pub target_seq: Option<i64>,
    /// What was done.
    pub kind: ActionKind,
    /// Why, if the moderator said.
    pub reason: Option<String>,
    /// A mute's length, when it has one.
    pub duration_seconds: Option<i64>,
    /// When a mute ends, when it has an end.
    pub expires_at: Option<DateTime<Utc>>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A participant's mute in a session. At most one per session and user: muting again
/// replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    /// Session.
    pub session_id: Uuid,
    /// The muted user.
    pub user_id: Uuid,
    /// When it ends by itself; `None`: when a moderator lifts it. A mute is active while
    /// `now < until`, read from the clock, so an ended mute never needs deleting to
    /// stop applying; the hourly `debates.purge_mutes` job deletes it later to keep the
    /// table small.
    pub until: Option<DateTime<Utc>>,
    /// Why, if the moderator said.
    pub reason: Option<String>,
    /// The moderator.
    pub muted_by: Uuid,
    /// When.
    pub muted_at: DateTime<Utc>,
}

impl Mute {
    /// Whether the mute still holds at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// Which actions to list; fields combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    /// Only in this session.
    pub session_id: Option<Uuid>,
    /// Only in exactly this scope (text form).
    pub scope: Option<String>,
    /// Only on this participant.
    pub target_user_id: Option<Uuid>,
    /// Only by this moderator.
    pub actor_id: Option<Uuid>,
    /// Only of this kind.
    pub kind: Option<ActionKind>,
    /// Only in the scopes the reader may read actions in; `None`: no such restriction.
    pub readable: Option<ScopeRestriction>,
}

/// The scopes (text form) a list may draw from, as the reader's access allows: each unit
/// is listed, so a store matches them with an indexed `scope = ANY(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRestriction {
    /// Only items kept in one of these scopes (none when empty).
    Only(Vec<String>),
    /// Items kept in any scope but these (a reader who holds the permission globally,
    /// less the subtrees an override denies them).
    AllBut(Vec<String>),
}

impl ScopeRestriction {
    /// Whether an item kept in `scope` may be listed.
    pub fn allows(&self, scope: &str) -> bool {
        match self {
            Self::Only(list) => list.iter().any(|s| s == scope),
            Self::AllBut(list) => !list.iter().any(|s| s == scope),
        }
    }
}

/// Result of removing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRemoval {
    /// Removed; the message as it now is.
    Removed(Message),
    /// It had been removed before; nothing changed, nothing recorded.
    AlreadyRemoved,
    /// No such message in the session; nothing recorded.
    NoSuchMessage,
}

/// Durable storage of moderation. Every write records its action, and the `events` that
/// announce it (the transactional outbox), in the same atomic step as its effect: there is
/// no effect without its record and events, nor a record or an event without its effect.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ModerationRepository: Send + Sync {
    /// Mutes `mute.user_id` in `mute.session_id`, replacing any earlier mute there, and
    /// records `action`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session, the user or the actor does not exist.
    async fn mute(
        &self,
        mute: Mute,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;

    /// Lifts the mute of `action.target_user_id` in `action.session_id`. Returns whether
    /// a mute was active at `action.created_at` (`false` also for an unknown session);
    /// only then is `action` recorded (an expired mute is dropped silently).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when a mute is lifted by an actor who does not exist.
    async fn unmute(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError>;

    /// Removes `action.target_user_id` from `action.session_id` for good: records the
    /// removal (later joins are refused), closes their active seat at
    /// `action.created_at` and records `action`. Returns `false`, recording nothing, when
    /// they had been removed before.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session, the user or the actor does not exist.
    async fn remove_participant(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError>;

    /// Records a warning.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session, the user or the actor does not exist.
    async fn warn(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;

    /// Marks the message `action.target_seq` of `action.session_id` removed (by
    /// `action.actor_id`, at `action.created_at`, for `action.reason`) and records
    /// `action`, unless it is missing or removed already.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the actor does not exist.
    async fn remove_message(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<MessageRemoval, StoreError>;

    /// The user's mute in the session if it is active at `now`.
    async fn active_mute(
        &self,
        session: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Mute>, StoreError>;

    /// Deletes the mutes that ended before `before` (`until < before`); mutes until
    /// lifted stay. Returns how many were deleted. Only housekeeping: reads already
    /// ignore an ended mute, so this changes nothing anyone can observe but the table's
    /// size.
    async fn purge_expired_mutes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Whether a moderator removed the user from the session.
    async fn is_removed(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError>;

    /// Actions matching `filter`, newest first (by `created_at`, then id, both
    /// descending), starting after the action `after` (keyset paging: stable while new
    /// actions are recorded), at most `limit`. An unknown `after` gives an empty page.
    async fn actions(
        &self,
        filter: ActionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ModerationAction>, StoreError>;
}
