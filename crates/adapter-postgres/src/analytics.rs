//! [`ActivityRollup`] over the `debate_activity_daily` table, computed from
//! `debate_sessions`, `debate_messages`, `debate_votes` and `debate_participants`.
//!
//! A roll-up is one transaction: `DELETE` the day's rows, then ONE `INSERT … SELECT`
//! (see [`ROLL_UP`]) that aggregates each figure over the day's half-open interval of
//! UTC instants and groups by the session's scope. Readers see the old rows or the new
//! ones, never a half-written day. Two roll-ups of the same day at once (the hourly job
//! and an operator's) do not fail: the second one's insert waits on the first one's
//! rows and `ON CONFLICT` overwrites them with figures at least as fresh.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain_core::StoreError;
use domain_debates::{ActivityRollup, DailyActivity, ScopeRestriction, day_start};

use crate::PgDebateRepository;
use crate::debates::debate_error;
use crate::error::pool_error;
use crate::schema::debate_activity_daily;

/// The day's figures: `$1` the day, `$2` its first instant, `$3` the next day's first
/// instant. Each branch counts one figure per scope, only where there is activity, so a
/// scope without any gets no row. `sum` of `bigint` is `numeric` in PostgreSQL, hence
/// the casts back.
const ROLL_UP: &str = "\
INSERT INTO debate_activity_daily
    (day, scope, sessions_started, sessions_closed, messages, votes, participants, computed_at)
SELECT $1, scope,
       sum(started)::bigint, sum(closed)::bigint, sum(messages)::bigint,
       sum(votes)::bigint, sum(participants)::bigint, now()
FROM (
    SELECT scope, count(*) AS started, 0::bigint AS closed, 0::bigint AS messages,
           0::bigint AS votes, 0::bigint AS participants
      FROM debate_sessions WHERE started_at >= $2 AND started_at < $3 GROUP BY scope
    UNION ALL
    SELECT scope, 0, count(*), 0, 0, 0
      FROM debate_sessions WHERE closed_at >= $2 AND closed_at < $3 GROUP BY scope
    UNION ALL
    SELECT s.scope, 0, 0, count(*), 0, 0
      FROM debate_messages m JOIN debate_sessions s ON s.id = m.session_id
     WHERE m.created_at >= $2 AND m.created_at < $3 GROUP BY s.scope
    UNION ALL
    SELECT s.scope, 0, 0, 0, count(*), 0
      FROM debate_votes v JOIN debate_sessions s ON s.id = v.session_id
     WHERE v.cast_at >= $2 AND v.cast_at < $3 GROUP BY s.scope
    UNION ALL
    SELECT s.scope, 0, 0, 0, 0, count(DISTINCT p.user_id)
      FROM debate_participants p JOIN debate_sessions s ON s.id = p.session_id
     WHERE p.joined_at >= $2 AND p.joined_at < $3 GROUP BY s.scope
) figures
GROUP BY scope
ON CONFLICT (day, scope) DO UPDATE SET
    sessions_started = EXCLUDED.sessions_started,
    sessions_closed = EXCLUDED.sessions_closed,
    messages = EXCLUDED.messages,
    votes = EXCLUDED.votes,
    participants = EXCLUDED.participants,
    computed_at = EXCLUDED.computed_at";

#[derive(Queryable, Selectable)]
#[diesel(table_name = debate_activity_daily, check_for_backend(diesel::pg::Pg))]
struct ActivityRow {
    day: NaiveDate,
    scope: String,
    sessions_started: i64,
    sessions_closed: i64,
    messages: i64,
    votes: i64,
    participants: i64,
}

/// A stored count; the table's CHECK constraints keep them non-negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl From<ActivityRow> for DailyActivity {
    fn from(r: ActivityRow) -> Self {
        Self {
            day: r.day,
            scope: r.scope,
            sessions_started: count(r.sessions_started),
            sessions_closed: count(r.sessions_closed),
            messages: count(r.messages),
            votes: count(r.votes),
            participants: count(r.participants),
        }
    }
}

#[async_trait]
impl ActivityRollup for PgDebateRepository {
    async fn roll_up(&self, day: NaiveDate) -> Result<u64, StoreError> {
        let start: DateTime<Utc> = day_start(day);
        let end = start + TimeDelta::days(1);
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let written = conn
            .transaction(async |conn| {
                diesel::delete(
                    debate_activity_daily::table.filter(debate_activity_daily::day.eq(day)),
                )
                .execute(conn)
                .await?;
                diesel::sql_query(ROLL_UP)
                    .bind::<sql_types::Date, _>(day)
                    .bind::<sql_types::Timestamptz, _>(start)
                    .bind::<sql_types::Timestamptz, _>(end)
                    .execute(conn)
                    .await
            })
            .await
            .map_err(debate_error)?;
        Ok(u64::try_from(written).unwrap_or(u64::MAX))
    }

    async fn daily(
        &self,
        scope: Option<String>,
        readable: Option<ScopeRestriction>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyActivity>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = debate_activity_daily::table
            .filter(debate_activity_daily::day.between(from, to))
            .select(ActivityRow::as_select())
            .order_by((debate_activity_daily::day, debate_activity_daily::scope))
            .into_boxed();
        if let Some(scope) = scope {
            query = query.filter(debate_activity_daily::scope.eq(scope));
        }
        match readable {
            Some(ScopeRestriction::Only(list)) => {
                query = query.filter(debate_activity_daily::scope.eq_any(list));
            }
            Some(ScopeRestriction::AllBut(list)) if !list.is_empty() => {
                query = query.filter(debate_activity_daily::scope.ne_all(list));
            }
            _ => {}
        }
        let rows: Vec<ActivityRow> = query.load(&mut conn).await.map_err(debate_error)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
