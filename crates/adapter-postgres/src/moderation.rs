//! [`ModerationRepository`] over the `debate_mutes`, `debate_bans` and
//! `moderation_actions` tables and the removal columns of `debate_messages`.
//!
//! Each write and the insert of its action are one transaction, so there is no effect
//! without its record. A removal locks the session's row like a join does, so a join
//! racing a removal either commits first (and its seat is closed by the removal) or sees
//! the ban. Appends read mutes in their own statement (see `debates.rs`): a mute is
//! effective for every append that starts after it commits.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain_core::{DomainEvent, StoreError};
use domain_debates::{
    ActionFilter, ActionKind, MessageRemoval, ModerationAction, ModerationRepository, Mute,
    ScopeRestriction,
};
use uuid::Uuid;

use crate::PgDebateRepository;
use crate::debates::{MessageRow, debate_error, unreadable};
use crate::error::pool_error;
use crate::jobs::record_events;
use crate::schema::{
    debate_bans, debate_messages, debate_mutes, debate_participants, debate_sessions,
    moderation_actions,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = debate_mutes, check_for_backend(diesel::pg::Pg))]
struct MuteRow {
    session_id: Uuid,
    user_id: Uuid,
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
    muted_by: Uuid,
    muted_at: DateTime<Utc>,
}

impl From<MuteRow> for Mute {
    fn from(r: MuteRow) -> Self {
        Self {
            session_id: r.session_id,
            user_id: r.user_id,
            until: r.until,
            reason: r.reason,
            muted_by: r.muted_by,
            muted_at: r.muted_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = moderation_actions, check_for_backend(diesel::pg::Pg))]
struct ActionRow {
    id: Uuid,
    session_id: Uuid,
    scope: String,
    actor_id: Uuid,
    target_user_id: Option<Uuid>,
    target_seq: Option<i64>,
    kind: String,
    reason: Option<String>,
    duration_seconds: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl ActionRow {
    fn of(a: ModerationAction) -> Self {
        Self {
            id: a.id,
            session_id: a.session_id,
            scope: a.scope,
            actor_id: a.actor_id,
            target_user_id: a.target_user_id,
            target_seq: a.target_seq,
            kind: a.kind.as_str().to_owned(),
            reason: a.reason,
            duration_seconds: a.duration_seconds,
            expires_at: a.expires_at,
            created_at: a.created_at,
        }
    }

    fn read(self) -> Result<ModerationAction, StoreError> {
        let kind = ActionKind::parse(&self.kind).ok_or_else(|| unreadable("kind", &self.kind))?;
        Ok(ModerationAction {
            id: self.id,
            session_id: self.session_id,
            scope: self.scope,
            actor_id: self.actor_id,
            target_user_id: self.target_user_id,
            target_seq: self.target_seq,
            kind,
            reason: self.reason,
            duration_seconds: self.duration_seconds,
            expires_at: self.expires_at,
            created_at: self.created_at,
        })
    }
}

/// Records an action inside the caller's transaction.
async fn record(
    conn: &mut diesel_async::AsyncPgConnection,
    action: ModerationAction,
    events: &[DomainEvent],
) -> Result<(), Error> {
    diesel::insert_into(moderation_actions::table)
        .values(ActionRow::of(action))
        .execute(conn)
        .await?;
    record_events(conn, events).await
}

/// What a message removal transaction decided.
enum Removed {
    Message(MessageRow),
    Already,
    Missing,
}

#[async_trait]
impl ModerationRepository for PgDebateRepository {
    async fn mute(
        &self,
        mute: Mute,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let row = MuteRow {
            session_id: mute.session_id,
            user_id: mute.user_id,
            until: mute.until,
            reason: mute.reason,
            muted_by: mute.muted_by,
            muted_at: mute.muted_at,
        };
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // Muting again replaces the mute: one row per session and user.
            diesel::insert_into(debate_mutes::table)
                .values(&row)
                .on_conflict((debate_mutes::session_id, debate_mutes::user_id))
                .do_update()
                .set((
                    debate_mutes::until.eq(row.until),
                    debate_mutes::reason.eq(&row.reason),
                    debate_mutes::muted_by.eq(row.muted_by),
                    debate_mutes::muted_at.eq(row.muted_at),
                ))
                .execute(conn)
                .await?;
            record(conn, action, events).await
        })
        .await
        .map_err(debate_error)
    }

    async fn unmute(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        let Some(target) = action.target_user_id else {
            return Err(StoreError::NotFound);
        };
        let at = action.created_at;
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            let until: Option<Option<DateTime<Utc>>> =
                diesel::delete(debate_mutes::table.find((action.session_id, target)))
                    .returning(debate_mutes::until)
                    .get_result(conn)
                    .await
                    .optional()?;
            // An expired mute is dropped without a record: there was nothing to lift.
            let active = until.is_some_and(|until| until.is_none_or(|u| at < u));
            if active {
                record(conn, action, events).await?;
            }
            Ok::<_, Error>(active)
        })
        .await
        .map_err(debate_error)
    }

    async fn remove_participant(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        let Some(target) = action.target_user_id else {
            return Err(StoreError::NotFound);
        };
        let (session, at) = (action.session_id, action.created_at);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| {
            // The join's lock: a concurrent join waits, then sees the ban.
            debate_sessions::table
                .find(session)
                .select(debate_sessions::id)
                .for_no_key_update()
                .first::<Uuid>(conn)
                .await?;
            let banned = diesel::insert_into(debate_bans::table)
                .values((
                    debate_bans::session_id.eq(session),
                    debate_bans::user_id.eq(target),
                    debate_bans::reason.eq(&action.reason),
                    debate_bans::banned_by.eq(action.actor_id),
                    debate_bans::banned_at.eq(at),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if banned == 0 {
                return Ok(false);
            }
            diesel::update(
                debate_participants::table
                    .filter(debate_participants::session_id.eq(session))
                    .filter(debate_participants::user_id.eq(target))
                    .filter(debate_participants::left_at.is_null()),
            )
            .set(debate_participants::left_at.eq(at))
            .execute(conn)
            .await?;
            record(conn, action, events).await?;
            Ok::<_, Error>(true)
        })
        .await
        .map_err(debate_error)
    }

    async fn warn(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        conn.transaction(async |conn| record(conn, action, events).await)
            .await
            .map_err(debate_error)
    }

    async fn remove_message(
        &self,
        action: ModerationAction,
        events: &[DomainEvent],
    ) -> Result<MessageRemoval, StoreError> {
        let Some(seq) = action.target_seq else {
            return Ok(MessageRemoval::NoSuchMessage);
        };
        let session = action.session_id;
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let removed = conn
            .transaction(async |conn| {
                // Only a message not removed yet: of two concurrent removals one wins.
                let row: Option<MessageRow> = diesel::update(
                    debate_messages::table
                        .find((session, seq))
                        .filter(debate_messages::removed_at.is_null()),
                )
                .set((
                    debate_messages::removed_at.eq(action.created_at),
                    debate_messages::removed_by.eq(action.actor_id),
                    debate_messages::removal_reason.eq(&action.reason),
                ))
                .returning(MessageRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                let Some(row) = row else {
                    let exists: bool = diesel::select(diesel::dsl::exists(
                        debate_messages::table.find((session, seq)),
                    ))
                    .get_result(conn)
                    .await?;
                    return Ok(if exists {
                        Removed::Already
                    } else {
                        Removed::Missing
                    });
                };
                record(conn, action, events).await?;
                Ok::<_, Error>(Removed::Message(row))
            })
            .await
            .map_err(debate_error)?;
        match removed {
            Removed::Message(row) => row.read().map(MessageRemoval::Removed),
            Removed::Already => Ok(MessageRemoval::AlreadyRemoved),
            Removed::Missing => Ok(MessageRemoval::NoSuchMessage),
        }
    }

    async fn active_mute(
        &self,
        session: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Mute>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row = debate_mutes::table
            .find((session, user))
            .filter(
                debate_mutes::until
                    .is_null()
                    .or(debate_mutes::until.gt(now)),
            )
            .select(MuteRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(debate_error)?;
        Ok(row.map(Mute::from))
    }

    async fn purge_expired_mutes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        // `until < before` is false for NULL: mutes until lifted stay. No index on
        // `until`: the table holds at most one row per session and user, and this runs
        // hourly.
        let deleted = diesel::delete(debate_mutes::table.filter(debate_mutes::until.lt(before)))
            .execute(&mut conn)
            .await
            .map_err(debate_error)?;
        Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
    }

    async fn is_removed(&self, session: Uuid, user: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        diesel::select(diesel::dsl::exists(
            debate_bans::table.find((session, user)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(debate_error)
    }

    async fn actions(
        &self,
        filter: ActionFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ModerationAction>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let cursor: Option<DateTime<Utc>> = match after {
            None => None,
            Some(id) => {
                let at = moderation_actions::table
                    .find(id)
                    .select(moderation_actions::created_at)
                    .first(&mut conn)
                    .await
                    .optional()
                    .map_err(debate_error)?;
                match at {
                    Some(at) => Some(at),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut query = moderation_actions::table
            .select(ActionRow::as_select())
            .order((
                moderation_actions::created_at.desc(),
                moderation_actions::id.desc(),
            ))
            .limit(i64::from(limit))
            .into_boxed();
        if let (Some(at), Some(id)) = (cursor, after) {
            // (created_at, id) < (at, id), spelled out for the index.
            query = query.filter(
                moderation_actions::created_at
                    .lt(at)
                    .or(moderation_actions::created_at
                        .eq(at)
                        .and(moderation_actions::id.lt(id))),
            );
        }
        if let Some(session) = filter.session_id {
            query = query.filter(moderation_actions::session_id.eq(session));
        }
        if let Some(scope) = filter.scope {
            query = query.filter(moderation_actions::scope.eq(scope));
        }
        if let Some(target) = filter.target_user_id {
            query = query.filter(moderation_actions::target_user_id.eq(target));
        }
        if let Some(actor) = filter.actor_id {
            query = query.filter(moderation_actions::actor_id.eq(actor));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(moderation_actions::kind.eq(kind.as_str()));
        }
        match filter.readable {
            Some(ScopeRestriction::Only(list)) => {
                query = query.filter(moderation_actions::scope.eq_any(list));
            }
            Some(ScopeRestriction::AllBut(list)) if !list.is_empty() => {
                query = query.filter(moderation_actions::scope.ne_all(list));
            }
            _ => {}
        }
        let rows = query.load(&mut conn).await.map_err(debate_error)?;
        rows.into_iter().map(ActionRow::read).collect()
    }
}
