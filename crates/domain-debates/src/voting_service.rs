//! The voting use cases: casting (and changing) a vote while a closed session's voting
//! window is open, and the results.
//!
//! Who may vote is decided here, not by RBAC: anyone who had a seat in the session, on
//! any side or in the audience. The window is checked by the store in the same atomic
//! step as the write, so no vote lands after `voting_closes_at`; one vote per user and
//! ballot is kept by the store's unique key, also under concurrent double submits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain_core::{Clock, EventPublisher};
use uuid::Uuid;

use crate::service::{invalid, map_store, micros, not_found, publish};
use crate::{
    Ballot, CastOutcome, DebateError, DebateEvent, DebateRepository, DebateSession, Results,
    SessionStatus, Side, Tally, Vote, VoteChoice, VoteRepository,
};

/// A vote as stored by [`VotingService::cast`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CastVote {
    /// The vote.
    pub vote: Vote,
    /// Whether it replaced the voter's earlier vote on that ballot.
    pub replaced: bool,
}

/// The voting service. Cheap to clone; clones share the repositories, publisher and
/// clock.
#[derive(Clone)]
pub struct VotingService {
    debates: Arc<dyn DebateRepository>,
    votes: Arc<dyn VoteRepository>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for VotingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VotingService").finish_non_exhaustive()
    }
}

fn window_closed(at: Option<DateTime<Utc>>) -> DebateError {
    DebateError::Conflict(match at {
        Some(at) => format!("voting closed at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "voting is closed".into(),
    })
}

fn not_yet() -> DebateError {
    DebateError::Conflict("voting opens when the session closes".into())
}

/// The single entry with the most votes, if one leads alone.
fn leader<T: Copy>(counts: impl IntoIterator<Item = (T, u64)>) -> Option<T> {
    let mut best: Option<(T, u64)> = None;
    let mut tied = false;
    for (item, votes) in counts {
        match best {
            _ if votes == 0 => {}
            Some((_, top)) if votes == top => tied = true,
            Some((_, top)) if votes < top => {}
            _ => {
                best = Some((item, votes));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied).map(|(item, _)| item)
}

impl VotingService {
    /// A service reading sessions, seats and messages from `debates`, storing votes in
    /// `votes`, announcing them through `events` and reading the time from `clock`.
    pub fn new(
        debates: Arc<dyn DebateRepository>,
        votes: Arc<dyn VoteRepository>,
        events: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            debates,
            votes,
            events,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        micros(self.clock.now())
    }

    async fn session(&self, id: Uuid) -> Result<DebateSession, DebateError> {
        crate::service::existing_session(self.debates.as_ref(), id).await
    }

    /// Casts `voter`'s vote in the session — the winning side, or the best argument —
    /// replacing their earlier vote on that ballot while the window is open, and
    /// publishes `debates.vote_cast`.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"side"` when it is the audience);
    /// [`DebateError::NotFound`] (`"session"`, `"message"` for an argument that does not
    /// exist); [`DebateError::Conflict`] when the session has not closed ("voting opens
    /// when the session closes"), the window is over ("voting closed at …"), or the
    /// argument was removed by a moderator; [`DebateError::NotAllowed`] when the voter
    /// never had a seat in the session, or votes for their own argument;
    /// [`DebateError::Store`].
    pub async fn cast(
        &self,
        voter: Uuid,
        session_id: Uuid,
        choice: VoteChoice,
    ) -> Result<CastVote, DebateError> {
        if choice == VoteChoice::Winner(Side::Audience) {
            return Err(invalid("side", "must be pro or con"));
        }
        let session = self.session(session_id).await?;
        if session.status != SessionStatus::Closed {
            return Err(not_yet());
        }
        let now = self.now();
        if session.voting_closes_at.is_none_or(|end| now >= end) {
            return Err(window_closed(session.voting_closes_at));
        }
        if !self.debates.ever_seated(session_id, voter).await? {
            return Err(DebateError::NotAllowed(
                "only participants and audience of the session may vote".into(),
            ));
        }
        if matches!(choice, VoteChoice::Winner(_))
            && let Some(seat) = self.debates.seat(session_id, voter).await?
            && seat.side != Side::Audience
        {
            // Debaters would vote for their own side: the winner is the audience's call.
            return Err(DebateError::NotAllowed(
                "debaters do not vote for the winner; the audience decides".into(),
            ));
        }
        if let VoteChoice::BestArgument(seq) = choice {
            let message = self
                .debates
                .message(session_id, seq)
                .await?
                .ok_or_else(|| not_found("message"))?;
            if message.removed.is_some() {
                return Err(DebateError::Conflict(
                    "that argument was removed by a moderator".into(),
                ));
            }
            if message.author_id == voter {
                return Err(DebateError::NotAllowed(
                    "you cannot vote for your own argument".into(),
                ));
            }
        }
        let vote = Vote {
            session_id,
            user_id: voter,
            ballot: choice.ballot(),
            side: match choice {
                VoteChoice::Winner(side) => Some(side),
                VoteChoice::BestArgument(_) => None,
            },
            seq: match choice {
                VoteChoice::BestArgument(seq) => Some(seq),
                VoteChoice::Winner(_) => None,
            },
            cast_at: now,
        };
        let replaced = match self
            .votes
            .cast(vote.clone(), now)
            .await
            .map_err(|e| map_store(e, "session"))?
        {
            CastOutcome::Cast { replaced } => replaced,
            // The window ended between the read and the write.
            CastOutcome::WindowClosed => return Err(window_closed(session.voting_closes_at)),
        };
        let event = DebateEvent::VoteCast {
            session_id,
            scope: session.scope,
            user_id: voter,
            ballot: vote.ballot,
            side: vote.side,
            seq: vote.seq,
            replaced,
        };
        publish(&*self.events, &event, now).await;
        Ok(CastVote { vote, replaced })
    }

    /// The session's results: counts per side and per argument, the winner and the best
    /// argument (`None` on a tie or without votes), turnout among those who may vote,
    /// and the voting window. Available in any state (all zero before votes).
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`); [`DebateError::Store`].
    pub async fn results(&self, session_id: Uuid) -> Result<Results, DebateError> {
        let session = self.session(session_id).await?;
        let tally: Tally = self.votes.tally(session_id).await?;
        let now = self.now();
        let open = session.status == SessionStatus::Closed
            && session.voting_closes_at.is_some_and(|end| now < end);
        Ok(Results {
            session_id,
            winner: leader([(Side::Pro, tally.pro), (Side::Con, tally.con)]),
            best_argument: leader(tally.arguments.iter().map(|a| (a.seq, a.votes))),
            tally,
            voting_opens_at: session.closed_at,
            voting_closes_at: session.voting_closes_at,
            open,
        })
    }
}

/// Which ballots a [`VoteChoice`] can be on, for callers parsing requests.
impl Ballot {
    /// The choice on this ballot from a request's `side` or `seq`, whichever the ballot
    /// takes.
    ///
    /// # Errors
    /// [`DebateError::Invalid`] (`"side"`, `"seq"`) when the one it takes is missing.
    pub fn choice(self, side: Option<Side>, seq: Option<i64>) -> Result<VoteChoice, DebateError> {
        match self {
            Self::Winner => side
                .map(VoteChoice::Winner)
                .ok_or_else(|| invalid("side", "is required on the winner ballot")),
            Self::BestArgument => seq
                .map(VoteChoice::BestArgument)
                .ok_or_else(|| invalid("seq", "is required on the best_argument ballot")),
        }
    }
}

#[cfg(test)]
mod tests;
