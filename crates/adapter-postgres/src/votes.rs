//! [`VoteRepository`] over the `debate_votes` table.
//!
//! A cast is ONE statement (see [`CAST`]): `INSERT … SELECT … WHERE EXISTS (session
//! closed, window open at now) ON CONFLICT (session_id, user_id, ballot) DO UPDATE`. The
//! window check and the write cannot be split by a concurrent change, and the primary
//! key keeps one vote per user and ballot however many casts race: PostgreSQL's upsert
//! turns the losers into updates, never into a second row or a unique violation.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::RunQueryDsl;
use domain_core::StoreError;
use domain_debates::{ArgumentVotes, Ballot, CastOutcome, Tally, Vote, VoteRepository};
use uuid::Uuid;

use crate::PgDebateRepository;
use crate::debates::{debate_error, side_of};
use crate::error::pool_error;
use crate::schema::{debate_participants, debate_votes};

/// The cast: `$1` session, `$2` user, `$3` ballot, `$4` side, `$5` seq, `$6` cast_at,
/// `$7` now. Returns one row, `inserted` false when an earlier vote was replaced (`xmax`
/// is 0 only on a freshly inserted row version), or none when the window is not open.
const CAST: &str = "\
INSERT INTO debate_votes (session_id, user_id, ballot, side, seq, cast_at)
SELECT $1, $2, $3, $4, $5, $6
WHERE EXISTS (
    SELECT 1 FROM debate_sessions
    WHERE id = $1 AND status = 'closed' AND voting_closes_at > $7)
ON CONFLICT (session_id, user_id, ballot) DO UPDATE
    SET side = EXCLUDED.side, seq = EXCLUDED.seq, cast_at = EXCLUDED.cast_at
RETURNING (xmax = 0) AS inserted";

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = sql_types::Bool)]
    inserted: bool,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl VoteRepository for PgDebateRepository {
    async fn cast(&self, vote: Vote, now: DateTime<Utc>) -> Result<CastOutcome, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row: Option<Inserted> = diesel::sql_query(CAST)
            .bind::<sql_types::Uuid, _>(vote.session_id)
            .bind::<sql_types::Uuid, _>(vote.user_id)
            .bind::<sql_types::Text, _>(vote.ballot.as_str())
            .bind::<sql_types::Nullable<sql_types::Text>, _>(vote.side.map(|s| s.as_str()))
            .bind::<sql_types::Nullable<sql_types::BigInt>, _>(vote.seq)
            .bind::<sql_types::Timestamptz, _>(vote.cast_at)
            .bind::<sql_types::Timestamptz, _>(now)
            .get_result(&mut conn)
            .await
            .optional()
            // Foreign keys: an unknown voter or message is NotFound.
            .map_err(debate_error)?;
        Ok(match row {
            Some(r) => CastOutcome::Cast {
                replaced: !r.inserted,
            },
            None => CastOutcome::WindowClosed,
        })
    }

    async fn tally(&self, session: Uuid) -> Result<Tally, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let of_session = debate_votes::table.filter(debate_votes::session_id.eq(session));
        let sides: Vec<(Option<String>, i64)> = of_session
            .filter(debate_votes::ballot.eq(Ballot::Winner.as_str()))
            .group_by(debate_votes::side)
            .select((debate_votes::side, diesel::dsl::count_star()))
            .load(&mut conn)
            .await
            .map_err(debate_error)?;
        let arguments: Vec<(Option<i64>, i64)> = of_session
            .filter(debate_votes::ballot.eq(Ballot::BestArgument.as_str()))
            .group_by(debate_votes::seq)
            .select((debate_votes::seq, diesel::dsl::count_star()))
            .load(&mut conn)
            .await
            .map_err(debate_error)?;
        let turnout: i64 = of_session
            .select(diesel::dsl::count(debate_votes::user_id).aggregate_distinct())
            .get_result(&mut conn)
            .await
            .map_err(debate_error)?;
        let eligible: i64 = debate_participants::table
            .filter(debate_participants::session_id.eq(session))
            .select(diesel::dsl::count(debate_participants::user_id).aggregate_distinct())
            .get_result(&mut conn)
            .await
            .map_err(debate_error)?;
        let mut per_side: HashMap<&'static str, u64> = HashMap::new();
        for (side, n) in sides {
            if let Some(side) = side {
                *per_side.entry(side_of(&side)?.as_str()).or_default() += count(n);
            }
        }
        let mut arguments: Vec<ArgumentVotes> = arguments
            .into_iter()
            .filter_map(|(seq, n)| {
                seq.map(|seq| ArgumentVotes {
                    seq,
                    votes: count(n),
                })
            })
            .collect();
        arguments.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.seq.cmp(&b.seq)));
        Ok(Tally {
            pro: per_side.get("pro").copied().unwrap_or(0),
            con: per_side.get("con").copied().unwrap_or(0),
            arguments,
            turnout: count(turnout),
            eligible: count(eligible),
        })
    }
}
