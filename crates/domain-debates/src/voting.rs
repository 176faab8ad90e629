//! Voting after a session closes: the winning side and the best argument, one vote per
//! user and ballot; and the port that stores votes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Side;

/// The questions a voter answers, each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ballot {
    /// Which side won.
    Winner,
    /// Which message was the best argument.
    BestArgument,
}

impl Ballot {
    /// Text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Winner => "winner",
            Self::BestArgument => "best_argument",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "winner" => Some(Self::Winner),
            "best_argument" => Some(Self::BestArgument),
            _ => None,
        }
    }
}

/// What a voter chooses on one ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoteChoice {
    /// The winning side: [`Side::Pro`] or [`Side::Con`].
    Winner(Side),
    /// The best argument, by sequence number.
    BestArgument(i64),
}

impl VoteChoice {
    /// The ballot this choice answers.
    pub fn ballot(self) -> Ballot {
        match self {
            Self::Winner(_) => Ballot::Winner,
            Self::BestArgument(_) => Ballot::BestArgument,
        }
    }
}

/// A stored vote. Exactly one of `side` (winner ballot) and `seq` (best argument
/// ballot) is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Session.
    pub session_id: Uuid,
    /// Voter.
    pub user_id: Uuid,
    /// Which ballot.
    pub ballot: Ballot,
    /// The side chosen, on the winner ballot.
    pub side: Option<Side>,
    /// The message chosen, on the best argument ballot.
    pub seq: Option<i64>,
    /// When cast (or last changed).
    pub cast_at: DateTime<Utc>,
}

/// Result of casting a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastOutcome {
    /// Stored; `replaced` when it replaced the voter's earlier vote on that ballot.
    Cast {
        /// Whether an earlier vote was replaced.
        replaced: bool,
    },
    /// The session is not closed, or its voting window is over; nothing stored.
    WindowClosed,
}

/// Votes for one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgumentVotes {
    /// The message.
    pub seq: i64,
    /// Votes for it.
    pub votes: u64,
}

/// The counts of a session's votes, as the store reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Votes for the pro side.
    pub pro: u64,
    /// Votes for the con side.
    pub con: u64,
    /// Votes per argument that has any, most votes first, then by `seq`.
    pub arguments: Vec<ArgumentVotes>,
    /// Distinct users who voted on any ballot.
    pub turnout: u64,
    /// Distinct users who ever had a seat in the session (who may vote).
    pub eligible: u64,
}

/// A session's voting results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// Session.
    pub session_id: Uuid,
    /// The counts.
    pub tally: Tally,
    /// The side with more votes; `None` on a tie or without votes.
    pub winner: Option<Side>,
    /// The argument with the most votes; `None` on a tie for first or without votes.
    pub best_argument: Option<i64>,
    /// When voting opened (the close), if the session is closed.
    pub voting_opens_at: Option<DateTime<Utc>>,
    /// When voting ends, if the session is closed.
    pub voting_closes_at: Option<DateTime<Utc>>,
    /// Whether votes are accepted now.
    pub open: bool,
}

/// Durable storage of votes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait VoteRepository: Send + Sync {
    /// Stores `vote`, replacing the voter's earlier vote on that ballot, in one atomic
    /// step with the check that the session is closed and `now` is before its
    /// `voting_closes_at` ([`CastOutcome::WindowClosed`] otherwise). One vote per user
    /// and ballot is kept by the store itself, also under concurrent casts.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the voter, or the message voted for, does not exist.
    async fn cast(&self, vote: Vote, now: DateTime<Utc>) -> Result<CastOutcome, StoreError>;

    /// The counts of the session's votes (all zero for an unknown session).
    async fn tally(&self, session: Uuid) -> Result<Tally, StoreError>;
}
