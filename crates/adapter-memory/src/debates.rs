//! Debates in ordered maps, with the same rules as the PostgreSQL tables: sessions need
//! their topic, seats and messages their session, and all of them go with their topic or
//! session; creators, participants and authors must be accounts of the user store.
//!
//! One mutex guards the whole store, so each call — a join's capacity check and its
//! seat change, an append's numbering and insert — is atomic. Accounts are looked up
//! before the lock is taken (it is never held across an await); they are never deleted,
//! so the answer cannot go stale. Only active seats are kept: the port never reads a
//! closed one back except from the `leave` that closes it; who ever sat is kept apart, for
//! voting.
//!
//! The same store implements [`domain_debates::ModerationRepository`] (`moderation.rs`),
//! [`domain_debates::VoteRepository`] (`votes.rs`) and
//! [`domain_debates::ActivityRollup`] (`analytics.rs`): under the one lock an append sees
//! the mute and a join sees the removal, as PostgreSQL's statements do.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::TimeDelta;
use chrono::{DateTime, NaiveDate, Utc};
use domain_core::{DomainEvent, StoreError};
use domain_debates::{
    AppendOutcome, Ballot, DailyActivity, DebateRepository, DebateSession, JoinOutcome, Message,
    MessageRange, ModerationAction, Mute, NewMessage, Participant, SessionFilter, SessionStatus,
    Side, Topic, TopicFilter, Visibility, Vote,
};
use domain_identity::{UserId, UserRepository};
use uuid::Uuid;

use crate::{MemoryOutbox, lock, stored};

/// In-process [`DebateRepository`].
pub struct MemoryDebateRepository {
    /// Where creators, participants and authors must exist.
    users: Arc<dyn UserRepository>,
    pub(crate) state: Mutex<Debates>,
    /// Where the events of changes go, while `state` is locked.
    pub(crate) outbox: MemoryOutbox,
}

impl std::fmt::Debug for MemoryDebateRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDebateRepository")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Debates {
    topics: BTreeMap<Uuid, Topic>,
    pub(crate) sessions: BTreeMap<Uuid, SessionEntry>,
    /// Active seats, keyed (session, user): one session's seats are a range ordered by
    /// user id.
    pub(crate) seats: BTreeMap<(Uuid, Uuid), Participant>,
    /// (session, user) of every seat ever taken (`debate_participants`, closed rows
    /// included): who may vote.
    pub(crate) ever_seated: BTreeSet<(Uuid, Uuid)>,
    /// Keyed (session, seq): one session's messages are a range in order.
    pub(crate) messages: BTreeMap<(Uuid, i64), Message>,
    /// Current mutes, keyed (session, user); expired ones may linger, as in PostgreSQL.
    pub(crate) mutes: BTreeMap<(Uuid, Uuid), Mute>,
    /// (session, user) of removed participants.
    pub(crate) bans: BTreeSet<(Uuid, Uuid)>,
    /// Moderation actions keyed (created_at, id): newest first is a reverse walk.
    pub(crate) actions: BTreeMap<(DateTime<Utc>, Uuid), ModerationAction>,
    /// Votes keyed (session, user, ballot): one per user and ballot.
    pub(crate) votes: BTreeMap<(Uuid, Uuid, Ballot), Vote>,
    /// (session, user, joined_at) of every seat ever taken, as the rows of
    /// `debate_participants` (a move to another side opens a new one): who sat on which
    /// day, for the daily roll-up.
    pub(crate) seat_log: BTreeSet<(Uuid, Uuid, DateTime<Utc>)>,
    /// The stored daily roll-ups (`debate_activity_daily`), keyed (day, scope): kept
    /// apart from the sessions they count, so deleting a session leaves them.
    pub(crate) activity: BTreeMap<(NaiveDate, String), DailyActivity>,
}

#[derive(Debug)]
pub(crate) struct SessionEntry {
    pub(crate) session: DebateSession,
    /// Number of the session's last message (`debate_sessions.last_seq`).
    last_seq: i64,
}

impl MemoryDebateRepository {
    /// An empty store whose users must be accounts of `users`.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            users,
            state: Mutex::new(Debates::default()),
            outbox: MemoryOutbox::default(),
        }
    }

    /// Records the events of changes on `outbox` (without one they are dropped).
    #[must_use]
    pub fn with_outbox(mut self, outbox: MemoryOutbox) -> Self {
        self.outbox = outbox;
        self
    }

    pub(crate) async fn user_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.users.by_id(UserId(id)).await?.is_some())
    }

    /// Whether the optional creator exists (no creator is fine).
    async fn creator_ok(&self, id: Option<Uuid>) -> Result<bool, StoreError> {
        match id {
            Some(id) => self.user_exists(id).await,
            None => Ok(true),
        }
    }
}

pub(crate) fn take(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

impl Debates {
    /// Deletes a session with its seats and messages.
    fn remove_session(&mut self, id: Uuid) -> bool {
        if self.sessions.remove(&id).is_none() {
            return false;
        }
        self.seats.retain(|(session, _), _| *session != id);
        self.ever_seated.retain(|(session, _)| *session != id);
        self.messages.retain(|(session, _), _| *session != id);
        self.mutes.retain(|(session, _), _| *session != id);
        self.bans.retain(|(session, _)| *session != id);
        self.actions.retain(|_, a| a.session_id != id);
        self.votes.retain(|(session, _, _), _| *session != id);
        self.seat_log.retain(|(session, _, _)| *session != id);
        true
    }

    /// The active seats of `session`, in user id order.
    fn seats_of(&self, session: Uuid) -> impl Iterator<Item = &Participant> {
        self.seats
            .range((Included((session, Uuid::nil())), Unbounded))
            .take_while(move |((s, _), _)| *s == session)
            .map(|(_, p)| p)
    }
}

fn session_stored(s: DebateSession) -> DebateSession {
    DebateSession {
        scheduled_start: stored(s.scheduled_start),
        scheduled_end: s.scheduled_end.map(stored),
        created_at: stored(s.created_at),
        started_at: s.started_at.map(stored),
        closed_at: s.closed_at.map(stored),
        voting_closes_at: s.voting_closes_at.map(stored),
        ..s
    }
}

#[async_trait]
impl DebateRepository for MemoryDebateRepository {
    async fn insert_topic(&self, topic: Topic, events: &[DomainEvent]) -> Result<(), StoreError> {
        let creator_ok = self.creator_ok(topic.created_by).await?;
        let mut d = lock(&self.state);
        // PostgreSQL's order: the primary key, then the foreign key.
        if d.topics.contains_key(&topic.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if !creator_ok {
            return Err(StoreError::NotFound);
        }
        let topic = Topic {
            created_at: stored(topic.created_at),
            ..topic
        };
        d.topics.insert(topic.id, topic);
        self.outbox.record(events);
        Ok(())
    }

    async fn topic(&self, id: Uuid) -> Result<Option<Topic>, StoreError> {
        Ok(lock(&self.state).topics.get(&id).cloned())
    }

    async fn list_topics(
        &self,
        filter: TopicFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Topic>, StoreError> {
        let d = lock(&self.state);
        let from = after.map_or(Unbounded, Excluded);
        Ok(d.topics
            .range((from, Unbounded))
            .map(|(_, t)| t)
            .filter(|t| {
                filter.scope.as_ref().is_none_or(|s| t.scope == *s)
                    && readable(filter.readable.as_deref(), &t.scope, t.visibility)
            })
            .take(take(limit))
            .cloned()
            .collect())
    }

    async fn update_topic(
        &self,
        id: Uuid,
        title: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let mut d = lock(&self.state);
        let topic = d.topics.get_mut(&id).ok_or(StoreError::NotFound)?;
        title.clone_into(&mut topic.title);
        description.clone_into(&mut topic.description);
        Ok(())
    }

    async fn set_topic_visibility(
        &self,
        id: Uuid,
        visibility: Visibility,
    ) -> Result<(), StoreError> {
        let mut d = lock(&self.state);
        d.topics
            .get_mut(&id)
            .ok_or(StoreError::NotFound)?
            .visibility = visibility;
        for entry in d.sessions.values_mut() {
            if entry.session.topic_id == id {
                entry.session.visibility = visibility;
            }
        }
        Ok(())
    }

    async fn delete_topic(&self, id: Uuid) -> Result<(), StoreError> {
        let mut d = lock(&self.state);
        if d.topics.remove(&id).is_none() {
            return Err(StoreError::NotFound);
        }
        let sessions: Vec<Uuid> = d
            .sessions
            .values()
            .filter(|e| e.session.topic_id == id)
            .map(|e| e.session.id)
            .collect();
        for s in sessions {
            d.remove_session(s);
        }
        Ok(())
    }

    async fn insert_session(
        &self,
        session: DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let creator_ok = self.creator_ok(session.created_by).await?;
        let mut d = lock(&self.state);
        if d.sessions.contains_key(&session.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        if !(creator_ok && d.topics.contains_key(&session.topic_id)) {
            return Err(StoreError::NotFound);
        }
        let mut session = session_stored(session);
        // A session is readable exactly as widely as its topic is at the time it is stored.
        if let Some(topic) = d.topics.get(&session.topic_id) {
            session.visibility = topic.visibility;
        }
        d.sessions.insert(
            session.id,
            SessionEntry {
                session,
                last_seq: 0,
            },
        );
        self.outbox.record(events);
        Ok(())
    }

    async fn session(&self, id: Uuid) -> Result<Option<DebateSession>, StoreError> {
        Ok(lock(&self.state)
            .sessions
            .get(&id)
            .map(|e| e.session.clone()))
    }

    async fn list_sessions(
        &self,
        filter: SessionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DebateSession>, StoreError> {
        let d = lock(&self.state);
        let from = after.map_or(Unbounded, Excluded);
        Ok(d.sessions
            .range((from, Unbounded))
            .map(|(_, e)| &e.session)
            .filter(|s| {
                filter.topic_id.is_none_or(|t| s.topic_id == t)
                    && filter.status.is_none_or(|st| s.status == st)
                    && filter.scope.as_ref().is_none_or(|sc| s.scope == *sc)
                    && readable(filter.readable.as_deref(), &s.scope, s.visibility)
            })
            .take(take(limit))
            .cloned()
            .collect())
    }

    async fn update_session(
        &self,
        session: &DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut d = lock(&self.state);
        let entry = d
            .sessions
            .get_mut(&session.id)
            .ok_or(StoreError::NotFound)?;
        let s = &mut entry.session;
        s.title.clone_from(&session.title);
        s.scheduled_start = stored(session.scheduled_start);
        s.scheduled_end = session.scheduled_end.map(stored);
        s.max_per_side = session.max_per_side;
        s.voting_window_seconds = session.voting_window_seconds;
        self.outbox.record(events);
        Ok(())
    }

    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        at: DateTime<Utc>,
        events: &[DomainEvent],
    ) -> Result<Option<DebateSession>, StoreError> {
        let mut d = lock(&self.state);
        let s = &mut d.sessions.get_mut(&id).ok_or(StoreError::NotFound)?.session;
        if s.status != from {
            return Ok(None);
        }
        s.status = to;
        match to {
            SessionStatus::Live => s.started_at = Some(stored(at)),
            SessionStatus::Closed => {
                let at = stored(at);
                s.closed_at = Some(at);
                // Only a debate that ran opens a voting window (cancelling one that
                // never started leaves nothing to vote on).
                if from == SessionStatus::Live {
                    s.voting_closes_at =
                        Some(at + TimeDelta::seconds(i64::from(s.voting_window_seconds)));
                }
            }
            SessionStatus::Scheduled => {}
        }
        let moved = s.clone();
        self.outbox.record(events);
        Ok(Some(moved))
    }

    async fn delete_session(&self, id: Uuid) -> Result<(), StoreError> {
        if lock(&self.state).remove_session(id) {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn join(
        &self,
        session: Uuid,
        user: Uuid,
        side: Side,
        max_per_side: Option<u32>,
        at: DateTime<Utc>,
    ) -> Result<JoinOutcome, StoreError> {
        let user_ok = self.user_exists(user).await?;
        let mut d = lock(&self.state);
        // PostgreSQL's order: the session's row lock, the current seat, the capacity
        // check, then the user foreign key of the new seat.
        if !d.sessions.contains_key(&session) {
            return Err(StoreError::NotFound);
        }
        let key = (session, user);
        if d.bans.contains(&key) {
            return Ok(JoinOutcome::Removed);
        }
        if let Some(seat) = d.seats.get(&key).filter(|s| s.side == side) {
            return Ok(JoinOutcome::Joined(seat.clone()));
        }
        if let Some(max) = max_per_side.filter(|_| side.is_debater()) {
            let taken = d.seats_of(session).filter(|p| p.side == side).count();
            if u64::try_from(taken).unwrap_or(u64::MAX) >= u64::from(max) {
                return Ok(JoinOutcome::SideFull);
            }
        }
        if !user_ok {
            return Err(StoreError::NotFound);
        }
        // Moving: the seat elsewhere is closed (and, closed, no longer kept).
        let seat = Participant {
            session_id: session,
            user_id: user,
            side,
            joined_at: stored(at),
            left_at: None,
        };
        d.seats.insert(key, seat.clone());
        d.ever_seated.insert(key);
        d.seat_log.insert((session, user, seat.joined_at));
        Ok(JoinOutcome::Joined(seat))
    }

    async fn leave(
        &self,
        session: Uuid,
        user: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Participant, StoreError> {
        let seat = lock(&self.state)
            .seats
            .remove(&(session, user))
            .ok_or(StoreError::NotFound)?;
        Ok(Participant {
            left_at: Some(stored(at)),
            ..seat
        })
    }

    async fn seat(&self, session: Uuid, user: Uuid) -> Result<Option<Participant>, StoreError> {
        Ok(lock(&self.state).seats.get(&(session, user)).cloned())
    }

    async fn participants(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError> {
        let d = lock(&self.state);
        Ok(d.seats_of(session)
            .filter(|p| after.is_none_or(|a| p.user_id > a))
            .take(take(limit))
            .cloned()
            .collect())
    }

    async fn append_message(
        &self,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<AppendOutcome, StoreError> {
        let author_ok = self.user_exists(message.author_id).await?;
        let mut d = lock(&self.state);
        let key = (message.session_id, message.author_id);
        // PostgreSQL's order: the session, its state, the author's mute, then the
        // reply_to check and the author foreign key of the insert.
        let muted_until = d
            .mutes
            .get(&key)
            .filter(|m| m.is_active(now))
            .map(|m| m.until);
        let entry = d
            .sessions
            .get_mut(&message.session_id)
            .ok_or(StoreError::NotFound)?;
        if entry.session.status != SessionStatus::Live {
            return Ok(AppendOutcome::NotLive);
        }
        if let Some(until) = muted_until {
            return Ok(AppendOutcome::Muted { until });
        }
        let seq = entry.last_seq + 1;
        // A reply answers an earlier message of the session: any number below this one.
        if message.reply_to.is_some_and(|r| !(1..seq).contains(&r)) || !author_ok {
            return Err(StoreError::NotFound);
        }
        entry.last_seq = seq;
        let stored_message = Message {
            session_id: message.session_id,
            seq,
            author_id: message.author_id,
            side: message.side,
            body: message.body,
            reply_to: message.reply_to,
            created_at: stored(message.created_at),
            removed: None,
        };
        d.messages
            .insert((message.session_id, seq), stored_message.clone());
        Ok(AppendOutcome::Appended(stored_message))
    }

    async fn ever_seated(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError> {
        Ok(lock(&self.state).ever_seated.contains(&(session, user)))
    }

    async fn ever_seated_users(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let d = lock(&self.state);
        let from = after.map_or(Included((session, Uuid::nil())), |a| Excluded((session, a)));
        Ok(d.ever_seated
            .range((from, Included((session, Uuid::max()))))
            .map(|(_, user)| *user)
            .take(take(limit))
            .collect())
    }

    async fn message(&self, session: Uuid, seq: i64) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.state).messages.get(&(session, seq)).cloned())
    }

    async fn messages(
        &self,
        session: Uuid,
        range: MessageRange,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let d = lock(&self.state);
        let low = match range.after {
            Some(after) => Excluded((session, after)),
            None => Included((session, i64::MIN)),
        };
        let high = match range.before {
            Some(before) => Excluded((session, before)),
            None => Included((session, i64::MAX)),
        };
        // An empty or inverted window: `BTreeMap::range` would panic on it.
        if range
            .after
            .zip(range.before)
            .is_some_and(|(after, before)| before <= after.saturating_add(1))
        {
            return Ok(Vec::new());
        }
        let window = d.messages.range((low, high)).map(|(_, m)| m);
        let mut found: Vec<Message> = if range.before.is_some() {
            window.rev().take(take(limit)).cloned().collect()
        } else {
            window.take(take(limit)).cloned().collect()
        };
        if range.before.is_some() {
            found.reverse();
        }
        Ok(found)
    }
}

/// Whether an item in `scope` with `visibility` passes a list's `readable` restriction.
fn readable(within: Option<&[String]>, scope: &str, visibility: Visibility) -> bool {
    visibility.is_public() || within.is_none_or(|scopes| scopes.iter().any(|s| s == scope))
}
