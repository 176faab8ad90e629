//! Debates in the `debate_topics`, `debate_sessions`, `debate_participants` and
//! `debate_messages` tables.
//!
//! Sessions, seats and messages go with their topic or session through
//! `ON DELETE CASCADE`. The writes that must be atomic are single statements or
//! transactions:
//!
//! - `append_message` is ONE statement (see [`APPEND`]): a CTE takes the number with
//!   `UPDATE debate_sessions SET last_seq = last_seq + 1 WHERE status = 'live' AND NOT
//!   EXISTS (active mute) RETURNING last_seq` and the `INSERT … SELECT` uses it. The
//!   row lock is held for that statement only (one round trip), concurrent appends
//!   queue on it, numbers commit in order, and a failed insert (reply_to CHECK, author
//!   foreign key) fails the statement and with it the number: no gaps. Nothing returned
//!   means not live or muted; a second query says which (the rare path).
//! - `join` locks the session's row (`FOR NO KEY UPDATE`: it serialises joins without
//!   blocking the foreign-key checks of other inserts), then checks the user was not
//!   removed (removals take the same lock), counts the side, closes the previous seat and
//!   opens the new one; concurrent joins cannot overfill a side.
//! - `transition` is one conditional `UPDATE … WHERE status = from RETURNING`; closing a
//!   live session also sets `voting_closes_at` from its window in that statement.
//!
//! The same adapter implements the moderation (`moderation.rs`) and vote (`votes.rs`)
//! ports, over the tables of the same migration set, and the daily activity roll-up
//! (`analytics.rs`) computed from them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain_core::{DomainEvent, StoreError};
use domain_debates::{
    AppendOutcome, DebateRepository, DebateSession, JoinOutcome, Message, MessageRange, NewMessage,
    Participant, Removal, SessionFilter, SessionStatus, Side, Topic, TopicFilter, Visibility,
};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{REPLY_TO_EARLIER_CHECK, db_error, pool_error};
use crate::jobs::record_events;
use crate::schema::{
    debate_bans, debate_messages, debate_mutes, debate_participants, debate_sessions, debate_topics,
};

/// [`DebateRepository`] over PostgreSQL; also the
/// [`ModerationRepository`](domain_debates::ModerationRepository) and the
/// [`VoteRepository`](domain_debates::VoteRepository), whose writes meet the debates'
/// rows in the same statements.
#[derive(Clone)]
pub struct PgDebateRepository {
    pub(crate) pool: PgPool,
}

impl PgDebateRepository {
    /// An adapter using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Maps a query error of this module: a foreign-key violation (the topic, session, user
/// or creator is missing) and [`Error::NotFound`] (a row that had to be there, also
/// raised on purpose to roll a transaction back) become [`StoreError::NotFound`]; clashes
/// name their field; the rest as everywhere else.
pub(crate) fn debate_error(e: Error) -> StoreError {
    match &e {
        Error::NotFound | Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        // A reply to no earlier message: the reply_to CHECK of debate_messages, the
        // backstop of the one-statement append.
        Error::DatabaseError(DatabaseErrorKind::CheckViolation, info)
            if info.constraint_name() == Some(REPLY_TO_EARLIER_CHECK) =>
        {
            StoreError::NotFound
        }
        _ => db_error(e),
    }
}

/// A one-row write's result: [`StoreError::NotFound`] if no row matched.
fn one_row(changed: usize) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// A stored value the domain cannot read: the table's CHECK constraints make this
/// impossible short of manual edits.
pub(crate) fn unreadable(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Unexpected(format!("unreadable {what} {value:?}").into())
}

pub(crate) fn side_of(text: &str) -> Result<Side, StoreError> {
    Side::parse(text).ok_or_else(|| unreadable("side", text))
}

/// The column value of a side limit; the CHECK constraint refuses what is out of range.
fn limit_column(max_per_side: Option<u32>) -> Result<Option<i32>, StoreError> {
    max_per_side
        .map(|m| i32::try_from(m).map_err(|_| unreadable("side limit", m)))
        .transpose()
}

// ---- rows ------------------------------------------------------------------------

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = debate_topics, check_for_backend(diesel::pg::Pg))]
struct TopicRow {
    id: Uuid,
    title: String,
    description: String,
    scope: String,
    visibility: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl TopicRow {
    fn read(self) -> Result<Topic, StoreError> {
        Ok(Topic {
            visibility: visibility_of(&self.visibility)?,
            id: self.id,
            title: self.title,
            description: self.description,
            scope: self.scope,
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

fn visibility_of(text: &str) -> Result<Visibility, StoreError> {
    Visibility::parse(text).ok_or_else(|| unreadable("visibility", text))
}

impl From<Topic> for TopicRow {
    fn from(t: Topic) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            scope: t.scope,
            visibility: t.visibility.as_str().to_owned(),
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// A session without `last_seq`, which only appends touch (inserts take its default, 0).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = debate_sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    topic_id: Uuid,
    scope: String,
    title: String,
    scheduled_start: DateTime<Utc>,
    scheduled_end: Option<DateTime<Utc>>,
    max_per_side: Option<i32>,
    status: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    voting_window_seconds: i32,
    voting_closes_at: Option<DateTime<Utc>>,
    visibility: String,
}

/// The column value of a voting window; the CHECK constraint refuses what is out of
/// range.
fn window_column(seconds: u32) -> Result<i32, StoreError> {
    i32::try_from(seconds).map_err(|_| unreadable("voting window", seconds))
}

impl SessionRow {
    fn of(s: DebateSession) -> Result<Self, StoreError> {
        Ok(Self {
            max_per_side: limit_column(s.max_per_side)?,
            voting_window_seconds: window_column(s.voting_window_seconds)?,
            voting_closes_at: s.voting_closes_at,
            id: s.id,
            topic_id: s.topic_id,
            scope: s.scope,
            visibility: s.visibility.as_str().to_owned(),
            title: s.title,
            scheduled_start: s.scheduled_start,
            scheduled_end: s.scheduled_end,
            status: s.status.as_str().to_owned(),
            created_by: s.created_by,
            created_at: s.created_at,
            started_at: s.started_at,
            closed_at: s.closed_at,
        })
    }

    fn read(self) -> Result<DebateSession, StoreError> {
        let status =
            SessionStatus::parse(&self.status).ok_or_else(|| unreadable("status", &self.status))?;
        let max_per_side = self
            .max_per_side
            .map(|m| u32::try_from(m).map_err(|_| unreadable("side limit", m)))
            .transpose()?;
        let voting_window_seconds = u32::try_from(self.voting_window_seconds)
            .map_err(|_| unreadable("voting window", self.voting_window_seconds))?;
        Ok(DebateSession {
            voting_window_seconds,
            voting_closes_at: self.voting_closes_at,
            id: self.id,
            topic_id: self.topic_id,
            scope: self.scope,
            visibility: visibility_of(&self.visibility)?,
            title: self.title,
            scheduled_start: self.scheduled_start,
            scheduled_end: self.scheduled_end,
            max_per_side,
            status,
            created_by: self.created_by,
            created_at: self.created_at,
            started_at: self.started_at,
            closed_at: self.closed_at,
        })
    }
}

/// A seat without its surrogate key (`GENERATED ALWAYS`: the database assigns it).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = debate_participants, check_for_backend(diesel::pg::Pg))]
struct ParticipantRow {
    session_id: Uuid,
    user_id: Uuid,
    side: String,
    joined_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
}

impl ParticipantRow {
    fn read(self) -> Result<Participant, StoreError> {
        Ok(Participant {
            side: side_of(&self.side)?,
            session_id: self.session_id,
            user_id: self.user_id,
            joined_at: self.joined_at,
            left_at: self.left_at,
        })
    }
}

/// A message as read: by the query builder (`Selectable`) and by the append statement
/// (`QueryableByName`, column names as in the table).
#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = debate_messages, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    session_id: Uuid,
    seq: i64,
    author_id: Uuid,
    side: String,
    body: String,
    reply_to: Option<i64>,
    created_at: DateTime<Utc>,
    removed_at: Option<DateTime<Utc>>,
    removed_by: Option<Uuid>,
    removal_reason: Option<String>,
}

impl MessageRow {
    pub(crate) fn read(self) -> Result<Message, StoreError> {
        // The table's CHECK keeps removed_at and removed_by set together.
        let removed = match (self.removed_at, self.removed_by) {
            (Some(at), Some(by)) => Some(Removal {
                at,
                by,
                reason: self.removal_reason,
            }),
            _ => None,
        };
        Ok(Message {
            side: side_of(&self.side)?,
            session_id: self.session_id,
            seq: self.seq,
            author_id: self.author_id,
            body: self.body,
            reply_to: self.reply_to,
            created_at: self.created_at,
            removed,
        })
    }
}

/// The append, in one statement: the session's number is taken only if the session is
/// live and the author not muted at `$7`, and the insert uses it. `$1` session, `$2`
/// author, `$3` side, `$4` body, `$5` reply_to, `$6` created_at, `$7` now.
const APPEND: &str = "\
WITH s AS (
    UPDATE debate_sessions SET last_seq = last_seq + 1
    WHERE id = $1 AND status = 'live'
      AND NOT EXISTS (
          SELECT 1 FROM debate_mutes m
          WHERE m.session_id = $1 AND m.user_id = $2 AND (m.until IS NULL OR m.until > $7))
    RETURNING last_seq
)
INSERT INTO debate_messages (session_id, seq, author_id, side, body, reply_to, created_at)
SELECT $1, s.last_seq, $2, $3, $4, $5, $6 FROM s
RETURNING session_id, seq, author_id, side, body, reply_to, created_at,
          removed_at, removed_by, removal_reason";

/// How many times an append is retried when it stored nothing yet neither the session's
/// state nor a mute explains why (a mute lifted or expired between the two queries).
const APPEND_ATTEMPTS: usize = 3;

/// What a join transaction decided; read into [`JoinOutcome`] after commit.
enum Joined {
    Seat(ParticipantRow),
    SideFull,
    Removed,
}

#[async_trait]
impl DebateRepository for PgDebateRepository {
    async fn insert_topic(&self, topic: Topic, events: &[DomainEvent]) -> Result<(), StoreError> {
        let row = TopicRow::from(topic);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            diesel::insert_into(debate_topics::table)
                .values(row)
                .execute(conn)
                .await?;
            record_events(conn, events).await
        })
        .await
        .map_err(debate_error)
    }

    async fn topic(&self, id: Uuid) -> Result<Option<Topic>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = debate_topics::table
            .find(id)
            .select(TopicRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(debate_error)?;
        row.map(TopicRow::read).transpose()
    }

    async fn list_topics(
        &self,
        filter: TopicFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Topic>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = debate_topics::table
            .select(TopicRow::as_select())
            .order(debate_topics::id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(scope) = filter.scope {
            query = query.filter(debate_topics::scope.eq(scope));
        }
        if let Some(scopes) = filter.readable {
            query = query.filter(
                debate_topics::scope
                    .eq_any(scopes)
                    .or(debate_topics::visibility.eq(Visibility::Public.as_str())),
            );
        }
        if let Some(after) = after {
            query = query.filter(debate_topics::id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(debate_error)?;
        rows.into_iter().map(TopicRow::read).collect()
    }

    async fn set_topic_visibility(
        &self,
        id: Uuid,
        visibility: Visibility,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            let updated = diesel::update(debate_topics::table.find(id))
                .set(debate_topics::visibility.eq(visibility.as_str()))
                .execute(conn)
                .await?;
            if updated == 0 {
                return Err(Error::NotFound);
            }
            diesel::update(debate_sessions::table.filter(debate_sessions::topic_id.eq(id)))
                .set(debate_sessions::visibility.eq(visibility.as_str()))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
        .map_err(debate_error)
    }

    async fn update_topic(
        &self,
        id: Uuid,
        title: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let updated = diesel::update(debate_topics::table.find(id))
            .set((
                debate_topics::title.eq(title),
                debate_topics::description.eq(description),
            ))
            .execute(&mut conn)
            .await
            .map_err(debate_error)?;
        one_row(updated)
    }

    async fn delete_topic(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let deleted = diesel::delete(debate_topics::table.find(id))
            .execute(&mut conn)
            .await
            .map_err(debate_error)?;
        one_row(deleted)
    }

    async fn insert_session(
        &self,
        session: DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut row = SessionRow::of(session)?;
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // A session is readable exactly as widely as its topic; the share lock keeps a
            // concurrent visibility change from slipping between the read and the insert.
            if let Some(visibility) = debate_topics::table
                .find(row.topic_id)
                .select(debate_topics::visibility)
                .for_share()
                .first::<String>(conn)
                .await
                .optional()?
            {
                row.visibility = visibility;
            }
            // The topic_id foreign key refuses a missing topic (NotFound).
            diesel::insert_into(debate_sessions::table)
                .values(row)
                .execute(conn)
                .await?;
            record_events(conn, events).await
        })
        .await
        .map_err(debate_error)
    }

    async fn session(&self, id: Uuid) -> Result<Option<DebateSession>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = debate_sessions::table
            .find(id)
            .select(SessionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(debate_error)?;
        row.map(SessionRow::read).transpose()
    }

    async fn list_sessions(
        &self,
        filter: SessionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DebateSession>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = debate_sessions::table
            .select(SessionRow::as_select())
            .order(debate_sessions::id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(topic) = filter.topic_id {
            query = query.filter(debate_sessions::topic_id.eq(topic));
        }
        if let Some(status) = filter.status {
            query = query.filter(debate_sessions::status.eq(status.as_str()));
        }
        if let Some(scope) = filter.scope {
            query = query.filter(debate_sessions::scope.eq(scope));
        }
        if let Some(scopes) = filter.readable {
            query = query.filter(
                debate_sessions::scope
                    .eq_any(scopes)
                    .or(debate_sessions::visibility.eq(Visibility::Public.as_str())),
            );
        }
        if let Some(after) = after {
            query = query.filter(debate_sessions::id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(debate_error)?;
        rows.into_iter().map(SessionRow::read).collect()
    }

    async fn update_session(
        &self,
        session: &DebateSession,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let max_per_side = limit_column(session.max_per_side)?;
        let window = window_column(session.voting_window_seconds)?;
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            let updated = diesel::update(debate_sessions::table.find(session.id))
                .set((
                    debate_sessions::title.eq(&session.title),
                    debate_sessions::scheduled_start.eq(session.scheduled_start),
                    debate_sessions::scheduled_end.eq(session.scheduled_end),
                    debate_sessions::max_per_side.eq(max_per_side),
                    debate_sessions::voting_window_seconds.eq(window),
                ))
                .execute(conn)
                .await?;
            // No row: nothing changed, so nothing to announce (the caller gets NotFound).
            if updated == 1 {
                record_events(conn, events).await?;
            }
            Ok(updated)
        })
        .await
        .map_err(debate_error)
        .and_then(one_row)
    }

    async fn transition(
        &self,
        id: Uuid,
        from: SessionStatus,
        to: SessionStatus,
        at: DateTime<Utc>,
        events: &[DomainEvent],
    ) -> Result<Option<DebateSession>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let moved = conn
            .transaction(async |conn| {
                let target = debate_sessions::table
                    .find(id)
                    .filter(debate_sessions::status.eq(from.as_str()));
                let status = debate_sessions::status.eq(to.as_str());
                let moved = match to {
                    SessionStatus::Live => {
                        diesel::update(target)
                            .set((status, debate_sessions::started_at.eq(at)))
                            .returning(SessionRow::as_returning())
                            .get_result(conn)
                            .await
                    }
                    // Closing a debate that ran opens its voting window now, for the
                    // length the session has at this moment.
                    SessionStatus::Closed if from == SessionStatus::Live => {
                        let closes = sql::<sql_types::Nullable<sql_types::Timestamptz>>("")
                            .bind::<sql_types::Timestamptz, _>(at)
                            .sql(" + voting_window_seconds * interval '1 second'");
                        diesel::update(target)
                            .set((
                                status,
                                debate_sessions::closed_at.eq(at),
                                debate_sessions::voting_closes_at.eq(closes),
                            ))
                            .returning(SessionRow::as_returning())
                            .get_result(conn)
                            .await
                    }
                    // Cancelling one that never started: nothing to vote on.
                    SessionStatus::Closed => {
                        diesel::update(target)
                            .set((status, debate_sessions::closed_at.eq(at)))
                            .returning(SessionRow::as_returning())
                            .get_result(conn)
                            .await
                    }
                    SessionStatus::Scheduled => {
                        diesel::update(target)
                            .set(status)
                            .returning(SessionRow::as_returning())
                            .get_result(conn)
                            .await
                    }
                }
                .optional()?;
                // Only the move that happened is announced.
                if moved.is_some() {
                    record_events(conn, events).await?;
                }
                Ok::<_, Error>(moved)
            })
            .await
            .map_err(debate_error)?;
        if let Some(row) = moved {
            return row.read().map(Some);
        }
        // Nothing moved: in another state, or no such session.
        let exists: bool = diesel::select(diesel::dsl::exists(debate_sessions::table.find(id)))
            .get_result(&mut conn)
            .await
            .map_err(debate_error)?;
        if exists {
            Ok(None)
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_session(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let deleted = diesel::delete(debate_sessions::table.find(id))
            .execute(&mut conn)
            .await
            .map_err(debate_error)?;
        one_row(deleted)
    }

    async fn join(
        &self,
        session: Uuid,
        user: Uuid,
        side: Side,
        max_per_side: Option<u32>,
        at: DateTime<Utc>,
    ) -> Result<JoinOutcome, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let joined = conn
            .transaction(async |conn| {
                // Every join of this session waits here for the one before it to commit.
                debate_sessions::table
                    .find(session)
                    .select(debate_sessions::id)
                    .for_no_key_update()
                    .first::<Uuid>(conn)
                    .await?;
                let active = debate_participants::table
                    .filter(debate_participants::session_id.eq(session))
                    .filter(debate_participants::user_id.eq(user))
                    .filter(debate_participants::left_at.is_null());
                let current: Option<ParticipantRow> = active
                    .select(ParticipantRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(seat) = current.filter(|s| s.side == side.as_str()) {
                    return Ok(Joined::Seat(seat));
                }
                // Removals lock the session's row too: none can commit between this
                // check and the insert.
                let removed: bool = diesel::select(diesel::dsl::exists(
                    debate_bans::table.find((session, user)),
                ))
                .get_result(conn)
                .await?;
                if removed {
                    return Ok(Joined::Removed);
                }
                if let Some(max) = max_per_side.filter(|_| side.is_debater()) {
                    let taken: i64 = debate_participants::table
                        .filter(debate_participants::session_id.eq(session))
                        .filter(debate_participants::side.eq(side.as_str()))
                        .filter(debate_participants::left_at.is_null())
                        .count()
                        .get_result(conn)
                        .await?;
                    if taken >= i64::from(max) {
                        return Ok(Joined::SideFull);
                    }
                }
                // Moving: the seat elsewhere closes as the new one opens.
                diesel::update(active)
                    .set(debate_participants::left_at.eq(at))
                    .execute(conn)
                    .await?;
                let seat = diesel::insert_into(debate_participants::table)
                    .values(ParticipantRow {
                        session_id: session,
                        user_id: user,
                        side: side.as_str().to_owned(),
                        joined_at: at,
                        left_at: None,
                    })
                    .returning(ParticipantRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok::<_, Error>(Joined::Seat(seat))
            })
            .await
            .map_err(debate_error)?;
        match joined {
            Joined::Seat(seat) => seat.read().map(JoinOutcome::Joined),
            Joined::SideFull => Ok(JoinOutcome::SideFull),
            Joined::Removed => Ok(JoinOutcome::Removed),
        }
    }

    async fn leave(
        &self,
        session: Uuid,
        user: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Participant, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = diesel::update(
            debate_participants::table
                .filter(debate_participants::session_id.eq(session))
                .filter(debate_participants::user_id.eq(user))
                .filter(debate_participants::left_at.is_null()),
        )
        .set(debate_participants::left_at.eq(at))
        .returning(ParticipantRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(debate_error)?;
        row.ok_or(StoreError::NotFound)?.read()
    }

    async fn seat(&self, session: Uuid, user: Uuid) -> Result<Option<Participant>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = debate_participants::table
            .filter(debate_participants::session_id.eq(session))
            .filter(debate_participants::user_id.eq(user))
            .filter(debate_participants::left_at.is_null())
            .select(ParticipantRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(debate_error)?;
        row.map(ParticipantRow::read).transpose()
    }

    async fn participants(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Participant>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = debate_participants::table
            .filter(debate_participants::session_id.eq(session))
            .filter(debate_participants::left_at.is_null())
            .select(ParticipantRow::as_select())
            .order(debate_participants::user_id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(debate_participants::user_id.gt(after));
        }
        let rows = query.load(&mut conn).await.map_err(debate_error)?;
        rows.into_iter().map(ParticipantRow::read).collect()
    }

    async fn append_message(
        &self,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        for _ in 0..APPEND_ATTEMPTS {
            // No explicit transaction: one statement is atomic, and autocommit ends it.
            let row: Option<MessageRow> = diesel::sql_query(APPEND)
                .bind::<sql_types::Uuid, _>(message.session_id)
                .bind::<sql_types::Uuid, _>(message.author_id)
                .bind::<sql_types::Text, _>(message.side.as_str())
                .bind::<sql_types::Text, _>(&message.body)
                .bind::<sql_types::Nullable<sql_types::BigInt>, _>(message.reply_to)
                .bind::<sql_types::Timestamptz, _>(message.created_at)
                .bind::<sql_types::Timestamptz, _>(now)
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(debate_error)?;
            if let Some(row) = row {
                return row.read().map(AppendOutcome::Appended);
            }
            // Nothing stored: say why.
            let status: Option<String> = debate_sessions::table
                .find(message.session_id)
                .select(debate_sessions::status)
                .first(&mut conn)
                .await
                .optional()
                .map_err(debate_error)?;
            match status.as_deref() {
                None => return Err(StoreError::NotFound),
                Some(s) if s != SessionStatus::Live.as_str() => {
                    return Ok(AppendOutcome::NotLive);
                }
                Some(_) => {}
            }
            let mute: Option<Option<DateTime<Utc>>> = debate_mutes::table
                .find((message.session_id, message.author_id))
                .filter(
                    debate_mutes::until
                        .is_null()
                        .or(debate_mutes::until.gt(now)),
                )
                .select(debate_mutes::until)
                .first(&mut conn)
                .await
                .optional()
                .map_err(debate_error)?;
            if let Some(until) = mute {
                return Ok(AppendOutcome::Muted { until });
            }
        }
        Err(StoreError::Unavailable(
            "the session's state kept changing during the append; retry".into(),
        ))
    }

    async fn ever_seated(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::select(diesel::dsl::exists(
            debate_participants::table
                .filter(debate_participants::session_id.eq(session))
                .filter(debate_participants::user_id.eq(user)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(debate_error)
    }

    async fn ever_seated_users(
        &self,
        session: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // a seat row per join: one user may have several (left, came back, moved)
        let mut query = debate_participants::table
            .filter(debate_participants::session_id.eq(session))
            .select(debate_participants::user_id)
            .distinct()
            .order(debate_participants::user_id)
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(debate_participants::user_id.gt(after));
        }
        query.load(&mut conn).await.map_err(debate_error)
    }

    async fn message(&self, session: Uuid, seq: i64) -> Result<Option<Message>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = debate_messages::table
            .find((session, seq))
            .select(MessageRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(debate_error)?;
        row.map(MessageRow::read).transpose()
    }

    async fn messages(
        &self,
        session: Uuid,
        range: MessageRange,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = debate_messages::table
            .filter(debate_messages::session_id.eq(session))
            .select(MessageRow::as_select())
            .limit(i64::from(limit))
            .into_boxed();
        if let Some(after) = range.after {
            query = query.filter(debate_messages::seq.gt(after));
        }
        let rows = match range.before {
            // The `limit` just below `before`: the highest first, then turned around.
            Some(before) => {
                let mut rows = query
                    .filter(debate_messages::seq.lt(before))
                    .order(debate_messages::seq.desc())
                    .load(&mut conn)
                    .await
                    .map_err(debate_error)?;
                rows.reverse();
                rows
            }
            None => query
                .order(debate_messages::seq)
                .load(&mut conn)
                .await
                .map_err(debate_error)?,
        };
        rows.into_iter().map(MessageRow::read).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_their_field() {
        let unique = |name: &'static str| {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(Named(name)))
        };
        for (constraint, field) in [
            ("debate_topics_pkey", "id"),
            ("debate_sessions_pkey", "id"),
            ("debate_participants_active_key", "seat"),
            ("debate_messages_pkey", "seq"),
        ] {
            assert!(
                matches!(debate_error(unique(constraint)), StoreError::Duplicate(f) if f == field),
                "{constraint}"
            );
        }
        let fk = Error::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new(Named("debate_sessions_topic_id_fkey")),
        );
        assert!(matches!(debate_error(fk), StoreError::NotFound));
        assert!(matches!(
            debate_error(Error::NotFound),
            StoreError::NotFound
        ));
    }

    #[test]
    fn side_limits_fit_the_column() {
        assert_eq!(limit_column(None).unwrap(), None);
        assert_eq!(limit_column(Some(3)).unwrap(), Some(3));
        assert!(matches!(
            limit_column(Some(u32::MAX)),
            Err(StoreError::Unexpected(_))
        ));
    }

    /// Error details naming a constraint, as the server reports it.
    struct Named(&'static str);

    impl diesel::result::DatabaseErrorInformation for Named {
        fn message(&self) -> &str {
            "violation"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }
}
