//! Contract of [`VoteRepository`], with the [`DebateRepository`] whose sessions it
//! checks (one adapter serves both) and the [`UserRepository`] whose accounts vote.

use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, StoreError};
use domain_debates::{
    ArgumentVotes, Ballot, CastOutcome, DebateRepository, DebateSession, NewMessage, SessionStatus,
    Side, Tally, Vote, VoteRepository,
};
use domain_identity::UserRepository;
use uuid::Uuid;

use crate::debates::{append, topic_with_live_session};
use crate::{clock, existing_user};

fn winner(s: Uuid, user: Uuid, side: Side, at: DateTime<Utc>) -> Vote {
    Vote {
        session_id: s,
        user_id: user,
        ballot: Ballot::Winner,
        side: Some(side),
        seq: None,
        cast_at: at,
    }
}

fn best(s: Uuid, user: Uuid, seq: i64, at: DateTime<Utc>) -> Vote {
    Vote {
        session_id: s,
        user_id: user,
        ballot: Ballot::BestArgument,
        side: None,
        seq: Some(seq),
        cast_at: at,
    }
}

/// A live session with `n` arguments by `author`, closed at `at`: voting is open until
/// `at + 600 s`.
async fn closed_session(
    debates: &dyn DebateRepository,
    author: Uuid,
    n: i64,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
) -> DebateSession {
    let (_, s) = topic_with_live_session(debates, now).await;
    debates
        .join(s.id, author, Side::Pro, None, now)
        .await
        .unwrap();
    for i in 1..=n {
        append(
            debates,
            NewMessage {
                session_id: s.id,
                author_id: author,
                side: Side::Pro,
                body: format!("argument {i}"),
                reply_to: None,
                created_at: now,
            },
        )
        .await
        .unwrap();
    }
    debates
        .transition(s.id, SessionStatus::Live, SessionStatus::Closed, at, &[])
        .await
        .unwrap()
        .unwrap()
}

/// Votes are refused before the close and from the end of the window on; within it a
/// second vote on a ballot replaces the first; tallies count what is stored.
pub async fn votes_replace_within_the_window(
    debates: &dyn DebateRepository,
    votes: &dyn VoteRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (author, voter, other) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let (_, live) = topic_with_live_session(debates, now).await;
    assert_eq!(
        votes
            .cast(winner(live.id, voter, Side::Pro, now), now)
            .await
            .unwrap(),
        CastOutcome::WindowClosed,
        "not closed yet"
    );
    assert_eq!(
        votes
            .cast(winner(Uuid::new_v4(), voter, Side::Pro, now), now)
            .await
            .unwrap(),
        CastOutcome::WindowClosed,
        "no such session"
    );

    let closed_at = now + TimeDelta::seconds(10);
    let s = closed_session(debates, author, 3, now, closed_at).await;
    let end = closed_at + TimeDelta::seconds(600);
    assert_eq!(s.voting_closes_at, Some(end));
    let t = closed_at + TimeDelta::seconds(1);
    assert_eq!(
        votes
            .cast(winner(s.id, voter, Side::Pro, t), t)
            .await
            .unwrap(),
        CastOutcome::Cast { replaced: false }
    );
    assert_eq!(
        votes.cast(best(s.id, voter, 2, t), t).await.unwrap(),
        CastOutcome::Cast { replaced: false },
        "another ballot"
    );
    assert_eq!(
        votes
            .cast(winner(s.id, other, Side::Con, t), t)
            .await
            .unwrap(),
        CastOutcome::Cast { replaced: false }
    );
    assert_eq!(
        votes.tally(s.id).await.unwrap(),
        Tally {
            pro: 1,
            con: 1,
            arguments: vec![ArgumentVotes { seq: 2, votes: 1 }],
            turnout: 2,
            eligible: 1,
        }
    );

    // Changing one's mind replaces the vote.
    let last = end - TimeDelta::seconds(1);
    assert_eq!(
        votes
            .cast(winner(s.id, voter, Side::Con, last), last)
            .await
            .unwrap(),
        CastOutcome::Cast { replaced: true }
    );
    assert_eq!(
        votes.cast(best(s.id, voter, 3, last), last).await.unwrap(),
        CastOutcome::Cast { replaced: true }
    );
    votes.cast(best(s.id, other, 3, last), last).await.unwrap();
    let tally = votes.tally(s.id).await.unwrap();
    assert_eq!((tally.pro, tally.con, tally.turnout), (0, 2, 2));
    assert_eq!(tally.arguments, vec![ArgumentVotes { seq: 3, votes: 2 }]);

    // From the end of the window on: refused, nothing changes.
    for at in [end, end + TimeDelta::days(1)] {
        assert_eq!(
            votes
                .cast(winner(s.id, voter, Side::Pro, at), at)
                .await
                .unwrap(),
            CastOutcome::WindowClosed
        );
        let newcomer = existing_user(users, now).await.0;
        assert_eq!(
            votes
                .cast(winner(s.id, newcomer, Side::Pro, at), at)
                .await
                .unwrap(),
            CastOutcome::WindowClosed
        );
    }
    assert_eq!(votes.tally(s.id).await.unwrap(), tally);

    // Unknown voter or argument.
    assert!(matches!(
        votes
            .cast(winner(s.id, Uuid::new_v4(), Side::Pro, t), t)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        votes.cast(best(s.id, other, 99, t), t).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(votes.tally(s.id).await.unwrap(), tally);
    assert_eq!(votes.tally(Uuid::new_v4()).await.unwrap(), Tally::default());
}

/// Fifty simultaneous casts by one user on one ballot store one vote.
pub async fn concurrent_casts_by_one_user_store_one_vote(
    debates: &dyn DebateRepository,
    votes: &dyn VoteRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (author, voter) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let s = closed_session(debates, author, 2, now, now).await;
    let t = now + TimeDelta::seconds(1);
    let casts = (0..50).map(|n| {
        let side = if n % 2 == 0 { Side::Pro } else { Side::Con };
        votes.cast(winner(s.id, voter, side, t), t)
    });
    let outcomes: Vec<CastOutcome> = futures_util::future::join_all(casts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let fresh = outcomes
        .iter()
        .filter(|o| **o == CastOutcome::Cast { replaced: false })
        .count();
    let replaced = outcomes
        .iter()
        .filter(|o| **o == CastOutcome::Cast { replaced: true })
        .count();
    assert_eq!(
        (fresh, replaced),
        (1, 49),
        "one insert, the rest replace it"
    );
    let tally = votes.tally(s.id).await.unwrap();
    assert_eq!(tally.pro + tally.con, 1, "one vote: {tally:?}");
    assert_eq!(tally.turnout, 1);

    let casts = (0..50).map(|n| votes.cast(best(s.id, voter, 1 + n % 2, t), t));
    for outcome in futures_util::future::join_all(casts).await {
        assert!(matches!(outcome.unwrap(), CastOutcome::Cast { .. }));
    }
    let tally = votes.tally(s.id).await.unwrap();
    assert_eq!(tally.arguments.iter().map(|a| a.votes).sum::<u64>(), 1);
    assert_eq!(tally.turnout, 1);
}

/// A hundred users voting at once are all counted, exactly.
pub async fn concurrent_casts_by_many_users_tally_exactly(
    debates: &dyn DebateRepository,
    votes: &dyn VoteRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let author = existing_user(users, now).await.0;
    let (_, s) = topic_with_live_session(debates, now).await;
    let mut voters = Vec::new();
    for _ in 0..100 {
        let u = existing_user(users, now).await.0;
        debates
            .join(s.id, u, Side::Audience, None, now)
            .await
            .unwrap();
        voters.push(u);
    }
    debates
        .join(s.id, author, Side::Pro, None, now)
        .await
        .unwrap();
    for i in 1..=3 {
        append(
            debates,
            NewMessage {
                session_id: s.id,
                author_id: author,
                side: Side::Pro,
                body: format!("argument {i}"),
                reply_to: None,
                created_at: now,
            },
        )
        .await
        .unwrap();
    }
    debates
        .transition(s.id, SessionStatus::Live, SessionStatus::Closed, now, &[])
        .await
        .unwrap();
    let t = now + TimeDelta::seconds(1);
    let casts = voters.iter().enumerate().flat_map(|(i, u)| {
        let side = if i < 60 { Side::Pro } else { Side::Con };
        let seq = [1, 2, 2, 3, 3, 3][i % 6];
        [winner(s.id, *u, side, t), best(s.id, *u, seq, t)]
    });
    let casts = casts.map(|v| votes.cast(v, t));
    for outcome in futures_util::future::join_all(casts).await {
        assert_eq!(outcome.unwrap(), CastOutcome::Cast { replaced: false });
    }
    let per_seq = |seq: i64| {
        u64::try_from(
            (0..100)
                .filter(|i| [1, 2, 2, 3, 3, 3][i % 6] == seq)
                .count(),
        )
        .unwrap()
    };
    assert_eq!(
        votes.tally(s.id).await.unwrap(),
        Tally {
            pro: 60,
            con: 40,
            arguments: vec![
                ArgumentVotes {
                    seq: 3,
                    votes: per_seq(3)
                },
                ArgumentVotes {
                    seq: 2,
                    votes: per_seq(2)
                },
                ArgumentVotes {
                    seq: 1,
                    votes: per_seq(1)
                },
            ],
            turnout: 100,
            eligible: 101,
        }
    );
}
