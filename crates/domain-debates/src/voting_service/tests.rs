//! Unit tests of [`VotingService`] against mockall mocks of its ports (strict: an
//! unexpected port call panics, so "nothing was stored" is asserted by not expecting it).

use std::sync::Mutex;

use chrono::{Duration, TimeZone};
use domain_core::ManualClock;
use domain_core::events::MockEventPublisher;

use super::*;
use crate::ports::MockDebateRepository;
use crate::voting::MockVoteRepository;
use crate::{ArgumentVotes, Message, Participant, Removal};

fn closed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

fn session(id: Uuid, status: SessionStatus) -> DebateSession {
    let closed = (status == SessionStatus::Closed).then(closed_at);
    DebateSession {
        id,
        topic_id: Uuid::from_u128(1),
        scope: "global".into(),
        visibility: Default::default(),
        title: "Round 1".into(),
        scheduled_start: closed_at() - Duration::hours(1),
        scheduled_end: None,
        max_per_side: None,
        status,
        created_by: None,
        created_at: closed_at() - Duration::hours(2),
        started_at: None,
        closed_at: closed,
        voting_window_seconds: 600,
        voting_closes_at: closed.map(|c| c + Duration::minutes(10)),
    }
}

fn message(session_id: Uuid, seq: i64, author: Uuid, removed: bool) -> Message {
    Message {
        session_id,
        seq,
        author_id: author,
        side: Side::Con,
        body: "text".into(),
        reply_to: None,
        created_at: closed_at(),
        removed: removed.then(|| Removal {
            at: closed_at(),
            by: Uuid::new_v4(),
            reason: None,
        }),
    }
}

struct Harness {
    debates: MockDebateRepository,
    votes: MockVoteRepository,
    events: MockEventPublisher,
    clock: Arc<ManualClock>,
}

impl Harness {
    fn new(session_found: DebateSession) -> Self {
        let mut debates = MockDebateRepository::new();
        debates
            .expect_session()
            .returning(move |_| Ok(Some(session_found.clone())));
        Self {
            debates,
            votes: MockVoteRepository::new(),
            events: MockEventPublisher::new(),
            clock: Arc::new(ManualClock::new(closed_at() + Duration::minutes(1))),
        }
    }

    /// `voters` took audience seats.
    fn seated(&mut self, voters: Vec<Uuid>) {
        self.seated_on(voters, Side::Audience);
    }

    /// `voters` took seats on `side`.
    fn seated_on(&mut self, voters: Vec<Uuid>, side: Side) {
        let v = voters.clone();
        self.debates
            .expect_ever_seated()
            .returning(move |_, u| Ok(v.contains(&u)));
        self.debates.expect_seat().returning(move |s, u| {
            Ok(voters.contains(&u).then_some(Participant {
                session_id: s,
                user_id: u,
                side,
                joined_at: chrono::DateTime::UNIX_EPOCH,
                left_at: None,
            }))
        });
    }

    fn build(self) -> VotingService {
        VotingService::new(
            Arc::new(self.debates),
            Arc::new(self.votes),
            Arc::new(self.events),
            self.clock,
        )
    }
}

fn conflict(e: &DebateError) -> &str {
    match e {
        DebateError::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn not_allowed(e: &DebateError) -> &str {
    match e {
        DebateError::NotAllowed(m) => m,
        other => panic!("expected not allowed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_vote_is_cast_and_announced() {
    let (voter, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new(session(id, SessionStatus::Closed));
    h.seated(vec![voter]);
    let cast: Arc<Mutex<Vec<Vote>>> = Arc::default();
    let c = cast.clone();
    h.votes.expect_cast().times(1).returning(move |v, now| {
        assert_eq!(now, v.cast_at);
        c.lock().unwrap().push(v);
        Ok(CastOutcome::Cast { replaced: true })
    });
    let seen: Arc<Mutex<Vec<DebateEvent>>> = Arc::default();
    let s = seen.clone();
    h.events.expect_publish().returning(move |e| {
        s.lock().unwrap().push(e.decode().unwrap());
        Ok(())
    });
    let got = h
        .build()
        .cast(voter, id, VoteChoice::Winner(Side::Con))
        .await
        .unwrap();
    assert!(got.replaced);
    assert_eq!(
        (got.vote.ballot, got.vote.side, got.vote.seq),
        (Ballot::Winner, Some(Side::Con), None)
    );
    assert_eq!(*cast.lock().unwrap(), vec![got.vote.clone()]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![DebateEvent::VoteCast {
            session_id: id,
            scope: "global".into(),
            user_id: voter,
            ballot: Ballot::Winner,
            side: Some(Side::Con),
            seq: None,
            replaced: true,
        }]
    );
}

#[tokio::test]
async fn voting_opens_with_the_close() {
    for status in [SessionStatus::Scheduled, SessionStatus::Live] {
        let id = Uuid::new_v4();
        let e = Harness::new(session(id, status))
            .build()
            .cast(Uuid::new_v4(), id, VoteChoice::Winner(Side::Pro))
            .await
            .unwrap_err();
        assert_eq!(conflict(&e), "voting opens when the session closes");
    }
}

#[tokio::test]
async fn voting_ends_with_the_window() {
    let id = Uuid::new_v4();
    let h = Harness::new(session(id, SessionStatus::Closed));
    h.clock.set(closed_at() + Duration::minutes(10));
    let e = h
        .build()
        .cast(Uuid::new_v4(), id, VoteChoice::Winner(Side::Pro))
        .await
        .unwrap_err();
    assert_eq!(conflict(&e), "voting closed at 2026-03-01 10:10:00 UTC");

    // The store's own check: the window ended between the read and the write.
    let voter = Uuid::new_v4();
    let mut h = Harness::new(session(id, SessionStatus::Closed));
    h.seated(vec![voter]);
    h.votes
        .expect_cast()
        .returning(|_, _| Ok(CastOutcome::WindowClosed));
    let e = h
        .build()
        .cast(voter, id, VoteChoice::Winner(Side::Pro))
        .await
        .unwrap_err();
    assert_eq!(conflict(&e), "voting closed at 2026-03-01 10:10:00 UTC");
}

#[tokio::test]
async fn only_those_who_sat_may_vote() {
    let id = Uuid::new_v4();
    let mut h = Harness::new(session(id, SessionStatus::Closed));
    h.seated(vec![]);
    let e = h
        .build()
        .cast(Uuid::new_v4(), id, VoteChoice::Winner(Side::Pro))
        .await
        .unwrap_err();
    not_allowed(&e);
}

#[tokio::test]
async fn best_argument_rules() {
    let (voter, other, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new(session(id, SessionStatus::Closed));
    h.seated(vec![voter]);
    h.debates.expect_message().returning(move |s, seq| {
        Ok(match seq {
            1 => Some(message(s, 1, voter, false)),
            2 => Some(message(s, 2, other, true)),
            3 => Some(message(s, 3, other, false)),
            _ => None,
        })
    });
    h.votes
        .expect_cast()
        .times(1)
        .returning(|_, _| Ok(CastOutcome::Cast { replaced: false }));
    h.events.expect_publish().returning(|_| Ok(()));
    let svc = h.build();
    let e = svc
        .cast(voter, id, VoteChoice::BestArgument(1))
        .await
        .unwrap_err();
    assert_eq!(not_allowed(&e), "you cannot vote for your own argument");
    let e = svc
        .cast(voter, id, VoteChoice::BestArgument(2))
        .await
        .unwrap_err();
    conflict(&e);
    let e = svc
        .cast(voter, id, VoteChoice::BestArgument(9))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DebateError::NotFound(w) if w == "message"),
        "{e:?}"
    );
    let e = svc
        .cast(voter, id, VoteChoice::Winner(Side::Audience))
        .await
        .unwrap_err();
    assert!(matches!(&e, DebateError::Invalid { field, .. } if field == "side"));
    let got = svc
        .cast(voter, id, VoteChoice::BestArgument(3))
        .await
        .unwrap();
    assert_eq!((got.vote.seq, got.replaced), (Some(3), false));
}

#[tokio::test]
async fn results_name_a_single_leader_only() {
    let id = Uuid::new_v4();
    let mut h = Harness::new(session(id, SessionStatus::Closed));
    let tallies = Arc::new(Mutex::new(vec![
        Tally {
            pro: 2,
            con: 2,
            arguments: vec![
                ArgumentVotes { seq: 4, votes: 3 },
                ArgumentVotes { seq: 1, votes: 3 },
            ],
            turnout: 4,
            eligible: 6,
        },
        Tally {
            pro: 3,
            con: 1,
            arguments: vec![
                ArgumentVotes { seq: 4, votes: 3 },
                ArgumentVotes { seq: 1, votes: 1 },
            ],
            turnout: 4,
            eligible: 6,
        },
        Tally::default(),
    ]));
    h.votes
        .expect_tally()
        .returning(move |_| Ok(tallies.lock().unwrap().pop().unwrap()));
    let svc = h.build();
    let r = svc.results(id).await.unwrap();
    assert_eq!((r.winner, r.best_argument), (None, None), "no votes");
    assert!(r.open);
    assert_eq!(r.voting_opens_at, Some(closed_at()));
    assert_eq!(
        r.voting_closes_at,
        Some(closed_at() + Duration::minutes(10))
    );
    let r = svc.results(id).await.unwrap();
    assert_eq!((r.winner, r.best_argument), (Some(Side::Pro), Some(4)));
    let r = svc.results(id).await.unwrap();
    assert_eq!((r.winner, r.best_argument), (None, None), "ties");
}

#[tokio::test]
async fn debaters_do_not_vote_for_the_winner() {
    for side in [Side::Pro, Side::Con] {
        let (voter, id) = (Uuid::new_v4(), Uuid::new_v4());
        let mut h = Harness::new(session(id, SessionStatus::Closed));
        h.seated_on(vec![voter], side);
        h.votes.expect_cast().never();
        let e = h
            .build()
            .cast(voter, id, VoteChoice::Winner(side))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DebateError::NotAllowed(m) if m.contains("audience decides")),
            "{e:?}"
        );
    }
}
