//! [`VoteRepository`] on the in-process debate store: a vote is checked against its
//! session's window and written under the debates' one lock, one entry per user and
//! ballot.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_debates::{
    ArgumentVotes, CastOutcome, SessionStatus, Side, Tally, Vote, VoteRepository,
};
use uuid::Uuid;

use crate::{MemoryDebateRepository, lock, stored};

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[async_trait]
impl VoteRepository for MemoryDebateRepository {
    async fn cast(&self, vote: Vote, now: DateTime<Utc>) -> Result<CastOutcome, StoreError> {
        let voter_ok = self.user_exists(vote.user_id).await?;
        let mut d = lock(&self.state);
        // PostgreSQL's order: the window condition of the INSERT … SELECT, then the
        // foreign keys of the row it writes.
        let open = d.sessions.get(&vote.session_id).is_some_and(|e| {
            e.session.status == SessionStatus::Closed
                && e.session.voting_closes_at.is_some_and(|end| now < end)
        });
        if !open {
            return Ok(CastOutcome::WindowClosed);
        }
        let message_ok = vote
            .seq
            .is_none_or(|seq| d.messages.contains_key(&(vote.session_id, seq)));
        if !(voter_ok && message_ok) {
            return Err(StoreError::NotFound);
        }
        let vote = Vote {
            cast_at: stored(vote.cast_at),
            ..vote
        };
        let replaced = d
            .votes
            .insert((vote.session_id, vote.user_id, vote.ballot), vote)
            .is_some();
        Ok(CastOutcome::Cast { replaced })
    }

    async fn tally(&self, session: Uuid) -> Result<Tally, StoreError> {
        let d = lock(&self.state);
        let mut tally = Tally::default();
        let mut voters = BTreeSet::new();
        let mut per_argument: BTreeMap<i64, u64> = BTreeMap::new();
        for ((_, user, _), vote) in d
            .votes
            .range((session, Uuid::nil(), domain_debates::Ballot::Winner)..)
            .take_while(|((s, _, _), _)| *s == session)
        {
            voters.insert(*user);
            match (vote.side, vote.seq) {
                (Some(Side::Pro), _) => tally.pro += 1,
                (Some(Side::Con), _) => tally.con += 1,
                (_, Some(seq)) => *per_argument.entry(seq).or_default() += 1,
                _ => {}
            }
        }
        let mut arguments: Vec<ArgumentVotes> = per_argument
            .into_iter()
            .map(|(seq, votes)| ArgumentVotes { seq, votes })
            .collect();
        arguments.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.seq.cmp(&b.seq)));
        tally.arguments = arguments;
        tally.turnout = count(voters.len());
        tally.eligible = count(
            d.ever_seated
                .range((session, Uuid::nil())..)
                .take_while(|(s, _)| *s == session)
                .count(),
        );
        Ok(tally)
    }
}
