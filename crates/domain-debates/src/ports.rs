//! Port of the debates domain: durable storage of topics, sessions, seats and messages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::{DomainEvent, StoreError};
use uuid::Uuid;

use crate::{
    DebateSession, Message, NewMessage, Participant, SessionStatus, Side, Topic, Visibility,
};

/// Which topics to list; fields combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Only in exactly this scope (text form).
    pub scope: Option<String>,
    /// Only those in one of these scopes (text form) or open to the public; `None`: no
    /// such restriction. Lists pass the scopes the caller may reach.
    pub readable: Option<Vec<String>>,
}

/// Which sessions to list; fields combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this topic's.
    pub topic_id: Option<Uuid>,
    /// Only in this state.
    pub status: Option<SessionStatus>,
    /// Only in exactly this scope (text form).
    pub scope: Option<String>,
    /// Only those in one of these scopes (text form) or open to the public; `None`: no
    /// such restriction.
    pub readable: Option<Vec<String>>,
}

/// A window of a session's messages by sequence number (both bounds exclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageRange {
    /// Only messages with `seq > after`.
    pub after: Option<i64>,
    /// Only messages with `seq < before`.
    pub before: Option<i64>,
}

/// Result of taking a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Seated (or moved to another side; the previous seat is closed).
    Joined(Participant),
    /// The chosen side already has `max_per_side` active debaters.
    SideFull,
    /// A moderator removed the user from this session: they cannot take a seat again.
    Removed,
}

/// Result of appending a message. The session's state and the author's mute are checked
/// in the same atomic step as the numbering, so no message slips in after a close or a
/// mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored with the next sequence number.
    Appended(Message),
    /// The session is not live (scheduled or closed); nothing stored, no number used.
    NotLive,
    /// The author is muted in the session at that time; nothing stored.
    Muted {
        /// When the mute ends; `None`: until lifted.
        until: Option<DateTime<Utc>>,
    },
}

/// Durable storage of debates.
///
/// Writes that change what others are told about take `events`: the store records them
/// in the same atomic step as the change (the transactional outbox — see
/// `domain_core::events`), and records none when it changes nothing or fails.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DebateRepository: Send + Sync {
    /// Stores a topic, recording `events` with it.
    async fn insert_topic(&self, topic: Topic, events: &[DomainEvent]) -> Result<(), StoreError>;
    /// One topic.
    async fn topic(&self, id: Uuid) -> Result<Option<Topic>, StoreError>;
    /// Topics by id order after `after`, as `filter` says.
    async fn list_topics(
        &self,
        filter: TopicFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Topic>, StoreError>;
    /// Changes title and description.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_topic(
        &self,
        id: Uuid,
        title: &str,
        description: &str,
    ) -> Result<(), StoreError>;
    /// Sets who may read a topic and its sessions, in one atomic step (a session is never
    /// readable more widely, or less, than its topic).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn set_topic_visibility(
        &self,
        id: Uuid,
        visibility: Visibility,
    ) -> Result<(), StoreError>;
    /// Deletes a topic with its sessions, seats and messages.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn delete_topic(&self, id: Uuid) -> Result<(), StoreError>;

    /// Stores a session, recording `events` with it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the topic does not exist.
    async fn insert_session(
        &self,
        session: DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;
    /// One session.
    async fn session(&self, id: Uuid) -> Result<Option<DebateSession>, StoreError>;
    /// Sessions by id order after `after`.
    async fn list_sessions(
        &self,
        filter: SessionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DebateSession>, StoreError>;
    /// Changes title, schedule, side limit and voting window, recording `events` with the
    /// change.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_session(
        &self,
        session: &DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError>;
    /// Moves a session from `from` to `to` at `at` (setting `started_at` / `closed_at`),
    /// atomically, recording `events` with the move: `None` when it was not in `from`
    /// (nothing changed, nothing recorded).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        at: DateTime<Utc>,
        events: &[DomainEvent],
    ) -> Result<Option<DebateSession>, StoreError>;
    /// Deletes a session with its seats and messages.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn delete_session(&self, id: Uuid) -> Result<(), StoreError>;

    /// Seats `user` on `side` at `at`, atomically checking `max_per_side` (debater sides
    /// only) so concurrent joins cannot overfill a side, and that no moderator removed
    /// the user from the session ([`JoinOutcome::Removed`]). An active seat elsewhere in the
    /// session is closed first; joining the side one already sits on returns that seat.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session does not exist.
    async fn join(
        &self,
        session: Uuid,
        user: Uuid,
        side: Side,
        max_per_side: Option<u32>,
        at: DateTime<Utc>,
    ) -> Result<JoinOutcome, StoreError>;
    /// Closes the user's active seat.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when they have none.
    async fn leave(
        &self,
        session: Uuid,
        user: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Participant, StoreError>;
    /// The user's active seat, if any.
    async fn seat(&self, session: Uuid, user: Uuid) -> Result<Option<Participant>, StoreError>;
    /// Active seats by user id order after `after`.
    async fn participants(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError>;

    /// Stores a message with the next sequence number of its session (1, 2, 3, … with no
    /// gap, even under concurrent appends), in one atomic step with the checks that the
    /// session is live and that the author is not muted at `now`; a refused append uses
    /// no number.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the session or the author does not exist, or
    /// `reply_to` is not an earlier message of the session.
    async fn append_message(
        &self,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<AppendOutcome, StoreError>;
    /// Whether `user` ever had a seat in the session (any side, audience included, left
    /// or not): who may vote.
    async fn ever_seated(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError>;
    /// The users who ever had a seat in the session (as [`ever_seated`](Self::ever_seated):
    /// who took part, whether they left or not), ordered by user id, after `after`, at
    /// most `limit`. An unknown session has none.
    async fn ever_seated_users(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// One message by sequence number.
    async fn message(&self, session: Uuid, seq: i64) -> Result<Option<Message>, StoreError>;
    /// Messages in `range`: ascending from `after` when `before` is absent, else the
    /// `limit` messages just below `before`, returned in ascending order.
    async fn messages(
        &self,
        session: Uuid,
        range: MessageRange,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
}
