//! Contract of [`DebateRepository`].
//!
//! Each contract takes the repository and the [`UserRepository`] whose accounts it
//! accepts as creators, participants and authors. Every contract makes its own topics in
//! a scope of its own, so listings are checked for exactly the rows it made even on a
//! store that has other rows.

use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, StoreError};
use domain_debates::{
    AppendOutcome, DebateRepository, DebateSession, JoinOutcome, Message, MessageRange, NewMessage,
    Participant, SessionFilter, SessionStatus, Side, Topic, TopicFilter, Visibility,
};
use domain_identity::UserRepository;
use uuid::Uuid;

use crate::{clock, existing_user, tag};

/// A scope no other contract uses.
fn fresh_scope() -> String {
    format!("institution:{}", Uuid::new_v4())
}

fn topic(scope: &str, by: Option<Uuid>, at: DateTime<Utc>) -> Topic {
    Topic {
        id: Uuid::new_v4(),
        title: format!("Topic {}", tag()),
        description: "Whether the motion should pass.".into(),
        scope: scope.into(),
        visibility: Default::default(),
        created_by: by,
        created_at: at,
    }
}

fn session(t: &Topic, at: DateTime<Utc>) -> DebateSession {
    DebateSession {
        id: Uuid::new_v4(),
        topic_id: t.id,
        scope: t.scope.clone(),
        visibility: Default::default(),
        title: format!("Session {}", tag()),
        scheduled_start: at + TimeDelta::hours(1),
        scheduled_end: None,
        max_per_side: None,
        status: SessionStatus::Scheduled,
        created_by: None,
        created_at: at,
        started_at: None,
        closed_at: None,
        voting_window_seconds: 600,
        voting_closes_at: None,
    }
}

/// [`session`], stored live (appends need it).
pub(crate) fn live_session(t: &Topic, at: DateTime<Utc>) -> DebateSession {
    DebateSession {
        status: SessionStatus::Live,
        started_at: Some(at),
        ..session(t, at)
    }
}

/// Appends `m` at its own time, expecting it stored.
pub(crate) async fn append(
    repo: &dyn DebateRepository,
    m: NewMessage,
) -> Result<Message, StoreError> {
    let now = m.created_at;
    match repo.append_message(m, now).await? {
        AppendOutcome::Appended(m) => Ok(m),
        other => panic!("expected the message stored, got {other:?}"),
    }
}

fn argument(session: Uuid, author: Uuid, side: Side, body: &str, at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        session_id: session,
        author_id: author,
        side,
        body: body.into(),
        reply_to: None,
        created_at: at,
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

fn is_duplicate<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) -> bool {
    matches!(r, Err(StoreError::Duplicate(f)) if f == field)
}

/// A stored topic in a fresh scope, with one stored session.
async fn topic_with_session(
    repo: &dyn DebateRepository,
    at: DateTime<Utc>,
) -> (Topic, DebateSession) {
    let t = topic(&fresh_scope(), None, at);
    repo.insert_topic(t.clone(), &[]).await.unwrap();
    let s = session(&t, at);
    repo.insert_session(s.clone(), &[]).await.unwrap();
    (t, s)
}

/// A stored topic in a fresh scope, with one stored live session.
pub(crate) async fn topic_with_live_session(
    repo: &dyn DebateRepository,
    at: DateTime<Utc>,
) -> (Topic, DebateSession) {
    let t = topic(&fresh_scope(), None, at);
    repo.insert_topic(t.clone(), &[]).await.unwrap();
    let s = live_session(&t, at);
    repo.insert_session(s.clone(), &[]).await.unwrap();
    (t, s)
}

fn seated(outcome: JoinOutcome) -> Participant {
    match outcome {
        JoinOutcome::Joined(p) => p,
        JoinOutcome::SideFull => panic!("expected a seat, the side was full"),
        JoinOutcome::Removed => panic!("expected a seat, the user was removed"),
    }
}

/// Walks every page of size `limit`, checking each is at most `limit` long and that ids
/// strictly increase across pages; returns every id seen.
async fn walk<F, Fut>(limit: u32, mut fetch: F) -> Vec<Uuid>
where
    F: FnMut(Option<Uuid>) -> Fut,
    Fut: Future<Output = Vec<Uuid>>,
{
    let mut seen: Vec<Uuid> = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(after).await;
        assert!(page.len() <= limit as usize, "at most `limit` items");
        for id in &page {
            assert!(seen.last().is_none_or(|last| last < id), "ordered by id");
            seen.push(*id);
        }
        if page.len() < limit as usize {
            return seen;
        }
        after = page.last().copied();
    }
}

/// Topics read back exactly as stored; unknown ids read as `None`; ids are unique; a
/// creator must be an account; updates change title and description only.
pub async fn topics_round_trip(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let creator = existing_user(users, now).await.0;
    let t = topic(&fresh_scope(), Some(creator), now);
    repo.insert_topic(t.clone(), &[]).await.unwrap();
    assert_eq!(repo.topic(t.id).await.unwrap(), Some(t.clone()));
    let global = topic("global", None, now);
    repo.insert_topic(global.clone(), &[]).await.unwrap();
    assert_eq!(repo.topic(global.id).await.unwrap(), Some(global));
    assert_eq!(repo.topic(Uuid::new_v4()).await.unwrap(), None);

    let same_id = Topic {
        title: "Another".into(),
        ..t.clone()
    };
    assert!(is_duplicate(repo.insert_topic(same_id, &[]).await, "id"));
    let orphan = topic(&t.scope, Some(Uuid::new_v4()), now);
    assert!(
        is_not_found(repo.insert_topic(orphan.clone(), &[]).await),
        "the creator must exist"
    );
    assert_eq!(repo.topic(orphan.id).await.unwrap(), None);

    repo.update_topic(t.id, "Renamed", "New description")
        .await
        .unwrap();
    assert_eq!(
        repo.topic(t.id).await.unwrap(),
        Some(Topic {
            title: "Renamed".into(),
            description: "New description".into(),
            ..t.clone()
        }),
        "only title and description change"
    );
    repo.update_topic(t.id, "Renamed", "").await.unwrap();
    assert_eq!(repo.topic(t.id).await.unwrap().unwrap().description, "");
    assert!(is_not_found(
        repo.update_topic(Uuid::new_v4(), "X", "Y").await
    ));
}

/// Topics are listed by id, paged by the last id seen; a scope filter lists exactly that
/// scope's topics.
pub async fn topics_by_scope_and_page(repo: &dyn DebateRepository, _users: &dyn UserRepository) {
    let now = clock().now();
    let (scope, other) = (fresh_scope(), fresh_scope());
    let mut expected = Vec::new();
    for _ in 0..5 {
        let t = topic(&scope, None, now);
        repo.insert_topic(t.clone(), &[]).await.unwrap();
        expected.push(t);
    }
    let mut elsewhere = Vec::new();
    for _ in 0..2 {
        let t = topic(&other, None, now);
        repo.insert_topic(t.clone(), &[]).await.unwrap();
        elsewhere.push(t.id);
    }
    expected.sort_by_key(|t| t.id);
    let ids: Vec<Uuid> = expected.iter().map(|t| t.id).collect();
    for limit in [1, 2, 5, 100] {
        let listed = walk(limit, |after| {
            let scope = scope.clone();
            async move {
                repo.list_topics(scoped(scope), after, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| t.id)
                    .collect()
            }
        })
        .await;
        assert_eq!(listed, ids, "the scope's topics, limit {limit}");
    }
    assert_eq!(
        repo.list_topics(scoped(scope.clone()), None, 10)
            .await
            .unwrap(),
        expected,
        "whole rows"
    );
    let unfiltered = walk(3, |after| async move {
        repo.list_topics(TopicFilter::default(), after, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect()
    })
    .await;
    assert!(ids.iter().chain(&elsewhere).all(|t| unfiltered.contains(t)));
    assert!(
        repo.list_topics(scoped(fresh_scope()), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.list_topics(scoped(scope), ids.last().copied(), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing after the last"
    );
}

/// Sessions read back exactly as stored and need an existing topic (and creator); ids
/// are unique; updates change title, schedule and side limit only; listings filter by
/// topic, status and scope (combined with AND) and page by id.
pub async fn sessions_round_trip_and_filters(
    repo: &dyn DebateRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let creator = existing_user(users, now).await.0;
    let scope = fresh_scope();
    let (a, b) = (topic(&scope, None, now), topic(&scope, None, now));
    repo.insert_topic(a.clone(), &[]).await.unwrap();
    repo.insert_topic(b.clone(), &[]).await.unwrap();

    let full = DebateSession {
        scheduled_end: Some(now + TimeDelta::hours(2)),
        max_per_side: Some(4),
        created_by: Some(creator),
        ..session(&a, now)
    };
    repo.insert_session(full.clone(), &[]).await.unwrap();
    assert_eq!(repo.session(full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(repo.session(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(repo.session(a.id).await.unwrap(), None, "ids are per kind");

    let same_id = DebateSession {
        title: "Another".into(),
        ..full.clone()
    };
    assert!(is_duplicate(repo.insert_session(same_id, &[]).await, "id"));
    let orphan = DebateSession {
        topic_id: Uuid::new_v4(),
        ..session(&a, now)
    };
    assert!(is_not_found(repo.insert_session(orphan.clone(), &[]).await));
    assert_eq!(repo.session(orphan.id).await.unwrap(), None);
    let unknown_creator = DebateSession {
        created_by: Some(Uuid::new_v4()),
        ..session(&a, now)
    };
    assert!(is_not_found(
        repo.insert_session(unknown_creator, &[]).await
    ));

    // Updates.
    let changed = DebateSession {
        title: "Changed".into(),
        scheduled_start: now + TimeDelta::hours(5),
        scheduled_end: None,
        max_per_side: Some(2),
        // Not changed by an update:
        status: SessionStatus::Closed,
        started_at: Some(now),
        created_by: None,
        ..full.clone()
    };
    repo.update_session(&changed, &[]).await.unwrap();
    let full = DebateSession {
        title: "Changed".into(),
        scheduled_start: now + TimeDelta::hours(5),
        scheduled_end: None,
        max_per_side: Some(2),
        ..full
    };
    assert_eq!(repo.session(full.id).await.unwrap(), Some(full.clone()));
    let unlimited = DebateSession {
        max_per_side: None,
        ..full.clone()
    };
    repo.update_session(&unlimited, &[]).await.unwrap();
    assert_eq!(repo.session(full.id).await.unwrap(), Some(unlimited));
    assert!(is_not_found(
        repo.update_session(&session(&a, now), &[]).await
    ));

    // Listings: a has `full` (to go live) + 3 scheduled; b has 2 scheduled.
    let mut of_a = vec![full.id];
    for _ in 0..3 {
        let s = session(&a, now);
        repo.insert_session(s.clone(), &[]).await.unwrap();
        of_a.push(s.id);
    }
    let mut of_b = Vec::new();
    for _ in 0..2 {
        let s = session(&b, now);
        repo.insert_session(s.clone(), &[]).await.unwrap();
        of_b.push(s.id);
    }
    repo.transition(
        full.id,
        SessionStatus::Scheduled,
        SessionStatus::Live,
        now,
        &[],
    )
    .await
    .unwrap()
    .unwrap();
    of_a.sort();
    of_b.sort();
    let list = |filter: SessionFilter, limit: u32| async move {
        walk(limit, |after| {
            let filter = filter.clone();
            async move {
                repo.list_sessions(filter, after, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.id)
                    .collect()
            }
        })
        .await
    };
    let by_topic = |t: Uuid| SessionFilter {
        topic_id: Some(t),
        ..SessionFilter::default()
    };
    for limit in [1, 3, 100] {
        assert_eq!(list(by_topic(a.id), limit).await, of_a, "limit {limit}");
    }
    assert_eq!(list(by_topic(b.id), 2).await, of_b);
    let mut of_scope: Vec<Uuid> = of_a.iter().chain(&of_b).copied().collect();
    of_scope.sort();
    let in_scope = SessionFilter {
        scope: Some(scope.clone()),
        ..SessionFilter::default()
    };
    assert_eq!(list(in_scope.clone(), 2).await, of_scope);
    assert_eq!(
        list(
            SessionFilter {
                status: Some(SessionStatus::Live),
                ..in_scope.clone()
            },
            2
        )
        .await,
        vec![full.id]
    );
    let scheduled_of_a = SessionFilter {
        status: Some(SessionStatus::Scheduled),
        ..by_topic(a.id)
    };
    let expected: Vec<Uuid> = of_a.iter().copied().filter(|s| *s != full.id).collect();
    assert_eq!(list(scheduled_of_a, 2).await, expected);
    let live = list(
        SessionFilter {
            status: Some(SessionStatus::Live),
            ..SessionFilter::default()
        },
        5,
    )
    .await;
    assert!(live.contains(&full.id) && !live.contains(&of_b[0]));
    assert!(
        list(
            SessionFilter {
                scope: Some(fresh_scope()),
                ..by_topic(a.id)
            },
            5
        )
        .await
        .is_empty(),
        "filters combine with AND"
    );
    let first = repo
        .list_sessions(by_topic(a.id), None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(Some(first.clone()), repo.session(first.id).await.unwrap());
}

/// A transition happens only from the given state, sets `started_at` (to live) or
/// `closed_at` (to closed) and returns the session as it now is; otherwise `None` and
/// nothing changes; an unknown session is `NotFound`.
pub async fn transitions(repo: &dyn DebateRepository, _users: &dyn UserRepository) {
    use SessionStatus::{Closed, Live, Scheduled};
    let now = clock().now();
    let (t, s) = topic_with_session(repo, now).await;
    let start = now + TimeDelta::minutes(5);
    let end = now + TimeDelta::minutes(50);

    assert_eq!(
        repo.transition(s.id, Live, Closed, start, &[])
            .await
            .unwrap(),
        None,
        "not live yet"
    );
    assert_eq!(repo.session(s.id).await.unwrap(), Some(s.clone()));

    let live = DebateSession {
        status: Live,
        started_at: Some(start),
        ..s.clone()
    };
    assert_eq!(
        repo.transition(s.id, Scheduled, Live, start, &[])
            .await
            .unwrap(),
        Some(live.clone())
    );
    assert_eq!(repo.session(s.id).await.unwrap(), Some(live.clone()));
    assert_eq!(
        repo.transition(s.id, Scheduled, Live, end, &[])
            .await
            .unwrap(),
        None,
        "the second start finds it live"
    );
    assert_eq!(repo.session(s.id).await.unwrap(), Some(live.clone()));

    let closed = DebateSession {
        status: Closed,
        closed_at: Some(end),
        // The close opens the voting window.
        voting_closes_at: Some(end + TimeDelta::seconds(600)),
        ..live
    };
    assert_eq!(
        repo.transition(s.id, Live, Closed, end, &[]).await.unwrap(),
        Some(closed.clone())
    );
    for from in [Scheduled, Live] {
        assert_eq!(
            repo.transition(s.id, from, Closed, end, &[]).await.unwrap(),
            None
        );
    }
    assert_eq!(repo.session(s.id).await.unwrap(), Some(closed));

    // Closing a session that never started (cancelling it).
    let cancelled = session(&t, now);
    repo.insert_session(cancelled.clone(), &[]).await.unwrap();
    assert_eq!(
        repo.transition(cancelled.id, Scheduled, Closed, end, &[])
            .await
            .unwrap(),
        Some(DebateSession {
            status: Closed,
            closed_at: Some(end),
            ..cancelled
        })
    );

    assert!(is_not_found(
        repo.transition(Uuid::new_v4(), Scheduled, Live, now, &[])
            .await
    ));
}

/// Concurrent starts of one session: exactly one moves it.
pub async fn concurrent_transitions_have_one_winner(
    repo: &dyn DebateRepository,
    _users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s) = topic_with_session(repo, now).await;
    let starts = (0..10).map(|n| {
        repo.transition(
            s.id,
            SessionStatus::Scheduled,
            SessionStatus::Live,
            now + TimeDelta::seconds(n),
            &[],
        )
    });
    let results = futures_util::future::join_all(starts).await;
    let winners: Vec<DebateSession> = results.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(winners.len(), 1, "one start wins");
    assert_eq!(repo.session(s.id).await.unwrap().as_ref(), winners.first());
}

/// Seats: one active seat per user and session; joining the side one sits on returns
/// that seat; joining another side moves (closing the old seat); leaving closes it and a
/// later join opens a new one; only active seats are listed, by user id.
pub async fn seats(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let later = now + TimeDelta::minutes(1);
    let (_, s) = topic_with_session(repo, now).await;
    let (_, other) = topic_with_session(repo, now).await;
    let alice = existing_user(users, now).await.0;
    let bob = existing_user(users, now).await.0;

    let seat = seated(repo.join(s.id, alice, Side::Pro, None, now).await.unwrap());
    assert_eq!(
        seat,
        Participant {
            session_id: s.id,
            user_id: alice,
            side: Side::Pro,
            joined_at: now,
            left_at: None,
        }
    );
    assert_eq!(repo.seat(s.id, alice).await.unwrap(), Some(seat.clone()));
    assert_eq!(
        repo.join(s.id, alice, Side::Pro, None, later)
            .await
            .unwrap(),
        JoinOutcome::Joined(seat.clone()),
        "the side one sits on: the same seat"
    );
    assert_eq!(
        repo.seat(other.id, alice).await.unwrap(),
        None,
        "per session"
    );
    assert_eq!(repo.seat(s.id, bob).await.unwrap(), None);

    // Moving.
    let moved = seated(
        repo.join(s.id, alice, Side::Con, None, later)
            .await
            .unwrap(),
    );
    assert_eq!(
        moved,
        Participant {
            side: Side::Con,
            joined_at: later,
            ..seat.clone()
        }
    );
    assert_eq!(repo.seat(s.id, alice).await.unwrap(), Some(moved.clone()));
    let watching = seated(
        repo.join(s.id, bob, Side::Audience, None, now)
            .await
            .unwrap(),
    );
    let mut expected = vec![moved.clone(), watching.clone()];
    expected.sort_by_key(|p| p.user_id);
    assert_eq!(
        repo.participants(s.id, None, 10).await.unwrap(),
        expected,
        "one seat each, the active one"
    );
    assert_eq!(
        repo.participants(s.id, Some(expected[0].user_id), 10)
            .await
            .unwrap(),
        expected[1..]
    );
    assert_eq!(
        repo.participants(s.id, None, 1).await.unwrap(),
        expected[..1]
    );
    assert!(
        repo.participants(other.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Leaving.
    let gone = now + TimeDelta::minutes(2);
    assert_eq!(
        repo.leave(s.id, alice, gone).await.unwrap(),
        Participant {
            left_at: Some(gone),
            ..moved
        }
    );
    assert_eq!(repo.seat(s.id, alice).await.unwrap(), None);
    assert!(is_not_found(repo.leave(s.id, alice, gone).await), "once");
    assert!(is_not_found(repo.leave(other.id, bob, gone).await));
    assert_eq!(
        repo.participants(s.id, None, 10).await.unwrap(),
        vec![watching]
    );

    // Back again, at the very instant of leaving.
    let back = seated(repo.join(s.id, alice, Side::Pro, None, gone).await.unwrap());
    assert_eq!(
        (back.side, back.joined_at, back.left_at),
        (Side::Pro, gone, None)
    );
    assert_eq!(repo.seat(s.id, alice).await.unwrap(), Some(back.clone()));
    let left = repo.leave(s.id, alice, gone).await.unwrap();
    assert_eq!(left.left_at, Some(gone));
    seated(repo.join(s.id, alice, Side::Pro, None, gone).await.unwrap());
    assert_eq!(repo.participants(s.id, None, 10).await.unwrap().len(), 2);

    // Unknown session or user.
    assert!(is_not_found(
        repo.join(Uuid::new_v4(), alice, Side::Pro, None, now).await
    ));
    assert!(is_not_found(
        repo.join(s.id, Uuid::new_v4(), Side::Pro, None, now).await
    ));
    assert!(is_not_found(repo.leave(s.id, Uuid::new_v4(), now).await));
    assert_eq!(repo.participants(s.id, None, 10).await.unwrap().len(), 2);
}

/// `max_per_side` limits each debater side on its own, never the audience; a seat on
/// the side counts once, a move to a full side is refused and keeps the old seat, and
/// leaving frees a place.
pub async fn side_limits(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let (_, s) = topic_with_session(repo, now).await;
    let max = Some(2);
    let mut people = Vec::new();
    for _ in 0..6 {
        people.push(existing_user(users, now).await.0);
    }
    for p in &people[..2] {
        seated(repo.join(s.id, *p, Side::Pro, max, now).await.unwrap());
    }
    assert_eq!(
        repo.join(s.id, people[2], Side::Pro, max, now)
            .await
            .unwrap(),
        JoinOutcome::SideFull
    );
    assert_eq!(repo.seat(s.id, people[2]).await.unwrap(), None);
    assert!(
        matches!(
            repo.join(s.id, people[0], Side::Pro, max, now).await.unwrap(),
            JoinOutcome::Joined(p) if p.side == Side::Pro
        ),
        "sitting on a full side: one's own seat"
    );
    assert_eq!(
        repo.join(s.id, Uuid::new_v4(), Side::Pro, max, now)
            .await
            .unwrap(),
        JoinOutcome::SideFull,
        "the capacity is checked before the user"
    );

    // The other side and the audience.
    seated(
        repo.join(s.id, people[2], Side::Con, max, now)
            .await
            .unwrap(),
    );
    for p in &people[3..] {
        seated(
            repo.join(s.id, *p, Side::Audience, Some(1), now)
                .await
                .unwrap(),
        );
    }
    // A move to a full side is refused and changes nothing.
    let watcher = repo.seat(s.id, people[3]).await.unwrap().unwrap();
    assert_eq!(
        repo.join(s.id, people[3], Side::Pro, max, now)
            .await
            .unwrap(),
        JoinOutcome::SideFull
    );
    assert_eq!(repo.seat(s.id, people[3]).await.unwrap(), Some(watcher));
    seated(
        repo.join(s.id, people[3], Side::Con, max, now)
            .await
            .unwrap(),
    );
    assert_eq!(
        repo.join(s.id, people[4], Side::Con, max, now)
            .await
            .unwrap(),
        JoinOutcome::SideFull
    );

    // Leaving (or moving away) frees a place.
    repo.leave(s.id, people[0], now).await.unwrap();
    seated(
        repo.join(s.id, people[4], Side::Pro, max, now)
            .await
            .unwrap(),
    );
    seated(
        repo.join(s.id, people[1], Side::Audience, max, now)
            .await
            .unwrap(),
    );
    seated(
        repo.join(s.id, people[5], Side::Pro, max, now)
            .await
            .unwrap(),
    );
    assert_eq!(
        repo.join(s.id, people[0], Side::Pro, max, now)
            .await
            .unwrap(),
        JoinOutcome::SideFull
    );
    seated(
        repo.join(s.id, people[0], Side::Pro, None, now)
            .await
            .unwrap(),
    );

    let sides: Vec<(Uuid, Side)> = repo
        .participants(s.id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.user_id, p.side))
        .collect();
    let mut expected = vec![
        (people[0], Side::Pro),
        (people[1], Side::Audience),
        (people[2], Side::Con),
        (people[3], Side::Con),
        (people[4], Side::Pro),
        (people[5], Side::Pro),
    ];
    expected.sort_by_key(|(user, _)| *user);
    assert_eq!(sides, expected);
}

/// Twenty people joining a side of three at once: exactly three get a seat.
pub async fn concurrent_joins_respect_the_limit(
    repo: &dyn DebateRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s) = topic_with_session(repo, now).await;
    let mut people = Vec::new();
    for _ in 0..20 {
        people.push(existing_user(users, now).await.0);
    }
    let joins = people
        .iter()
        .map(|p| repo.join(s.id, *p, Side::Con, Some(3), now));
    let outcomes = futures_util::future::join_all(joins).await;
    let mut winners: Vec<Uuid> = Vec::new();
    for outcome in outcomes {
        match outcome.unwrap() {
            JoinOutcome::Joined(p) => winners.push(p.user_id),
            JoinOutcome::SideFull => {}
            JoinOutcome::Removed => panic!("nobody was removed"),
        }
    }
    winners.sort();
    assert_eq!(winners.len(), 3, "exactly three seated");
    let listed: Vec<Uuid> = repo
        .participants(s.id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    assert_eq!(listed, winners);
}

/// Messages are numbered 1, 2, 3, … per session and read back as stored; a refused
/// append (unknown session or author, a reply to no earlier message) uses no number.
pub async fn messages_are_numbered(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let (t, s) = topic_with_live_session(repo, now).await;
    let other = live_session(&t, now);
    repo.insert_session(other.clone(), &[]).await.unwrap();
    let (pro, con) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );

    let first = append(repo, argument(s.id, pro, Side::Pro, "Opening", now))
        .await
        .unwrap();
    assert_eq!(
        first,
        Message {
            session_id: s.id,
            seq: 1,
            author_id: pro,
            side: Side::Pro,
            body: "Opening".into(),
            reply_to: None,
            created_at: now,
            removed: None,
        }
    );
    let reply = NewMessage {
        reply_to: Some(1),
        ..argument(s.id, con, Side::Con, "Rebuttal ✓ — ünïcødé", now)
    };
    let second = append(repo, reply).await.unwrap();
    assert_eq!((second.seq, second.reply_to), (2, Some(1)));
    assert_eq!(repo.message(s.id, 1).await.unwrap(), Some(first.clone()));
    assert_eq!(repo.message(s.id, 2).await.unwrap(), Some(second.clone()));
    assert_eq!(repo.message(s.id, 3).await.unwrap(), None);
    assert_eq!(
        repo.message(other.id, 1).await.unwrap(),
        None,
        "per session"
    );

    // Refusals take no number.
    assert!(is_not_found(
        append(repo, argument(Uuid::new_v4(), pro, Side::Pro, "x", now)).await
    ));
    assert!(is_not_found(
        append(repo, argument(s.id, Uuid::new_v4(), Side::Pro, "x", now)).await
    ));
    for bad in [0, 3, 4, -1] {
        let reply = NewMessage {
            reply_to: Some(bad),
            ..argument(s.id, pro, Side::Pro, "x", now)
        };
        assert!(is_not_found(append(repo, reply).await), "a reply to {bad}");
    }
    let third = append(repo, argument(s.id, pro, Side::Pro, "Third", now))
        .await
        .unwrap();
    assert_eq!(third.seq, 3, "no number lost");
    assert_eq!(
        repo.messages(s.id, MessageRange::default(), 10)
            .await
            .unwrap(),
        vec![first, second, third]
    );

    let elsewhere = append(repo, argument(other.id, con, Side::Con, "Elsewhere", now))
        .await
        .unwrap();
    assert_eq!(elsewhere.seq, 1, "each session counts from 1");
}

/// Fifty appends at once get exactly the numbers 1 to 50, each once.
pub async fn concurrent_appends_are_gapless(
    repo: &dyn DebateRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s) = topic_with_live_session(repo, now).await;
    let authors = [
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    ];
    let appends = (0..50).map(|n| {
        let side = if n % 2 == 0 { Side::Pro } else { Side::Con };
        append(
            repo,
            argument(s.id, authors[n % 2], side, &format!("#{n}"), now),
        )
    });
    let stored: Vec<Message> = futures_util::future::join_all(appends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let mut by_seq = stored;
    by_seq.sort_by_key(|m| m.seq);
    assert_eq!(
        repo.messages(s.id, MessageRange::default(), 100)
            .await
            .unwrap(),
        by_seq,
        "read back in order, as returned"
    );
}

/// Windows: ascending from `after`; with `before`, the `limit` messages just below it,
/// ascending; both bounds exclusive.
pub async fn message_windows(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let (t, s) = topic_with_live_session(repo, now).await;
    let author = existing_user(users, now).await.0;
    for n in 1..=10 {
        let at = now + TimeDelta::seconds(n);
        append(
            repo,
            argument(s.id, author, Side::Pro, &format!("#{n}"), at),
        )
        .await
        .unwrap();
    }
    let other = live_session(&t, now);
    repo.insert_session(other.clone(), &[]).await.unwrap();
    append(repo, argument(other.id, author, Side::Con, "other", now))
        .await
        .unwrap();

    let window = async |after: Option<i64>, before: Option<i64>, limit: u32| -> Vec<i64> {
        let found = repo
            .messages(s.id, MessageRange { after, before }, limit)
            .await
            .unwrap();
        assert!(
            found
                .iter()
                .all(|m| m.session_id == s.id && m.body == format!("#{}", m.seq))
        );
        found.into_iter().map(|m| m.seq).collect()
    };
    assert_eq!(window(None, None, 3).await, [1, 2, 3]);
    assert_eq!(window(None, None, 100).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(window(Some(3), None, 3).await, [4, 5, 6]);
    assert_eq!(window(Some(8), None, 5).await, [9, 10]);
    assert_eq!(window(Some(10), None, 5).await, [] as [i64; 0]);
    assert_eq!(window(Some(0), None, 2).await, [1, 2]);
    assert_eq!(window(None, Some(6), 3).await, [3, 4, 5], "just below");
    assert_eq!(window(None, Some(3), 10).await, [1, 2]);
    assert_eq!(window(None, Some(1), 10).await, [] as [i64; 0]);
    assert_eq!(window(None, Some(100), 2).await, [9, 10], "the latest");
    assert_eq!(window(Some(2), Some(8), 10).await, [3, 4, 5, 6, 7]);
    assert_eq!(window(Some(2), Some(8), 2).await, [6, 7]);
    assert_eq!(window(Some(5), Some(7), 10).await, [6]);
    assert_eq!(window(Some(5), Some(6), 10).await, [] as [i64; 0]);
    assert_eq!(window(Some(5), Some(5), 10).await, [] as [i64; 0]);
    assert_eq!(window(Some(7), Some(3), 10).await, [] as [i64; 0]);
    assert_eq!(window(None, None, 0).await, [] as [i64; 0]);
    assert_eq!(window(None, Some(5), 0).await, [] as [i64; 0]);

    let first = repo.message(s.id, 4).await.unwrap().unwrap();
    assert_eq!(first.created_at, now + TimeDelta::seconds(4));
    assert!(
        repo.messages(Uuid::new_v4(), MessageRange::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleting a session deletes its seats and messages; deleting a topic its sessions with
/// theirs; nothing else goes, and each can be deleted once.
pub async fn deletes_cascade(repo: &dyn DebateRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let user = existing_user(users, now).await.0;
    let (t, s1) = topic_with_live_session(repo, now).await;
    let s2 = live_session(&t, now);
    repo.insert_session(s2.clone(), &[]).await.unwrap();
    let (keep_t, keep_s) = topic_with_live_session(repo, now).await;
    for s in [&s1, &s2, &keep_s] {
        seated(repo.join(s.id, user, Side::Pro, None, now).await.unwrap());
        for _ in 0..2 {
            append(repo, argument(s.id, user, Side::Pro, "x", now))
                .await
                .unwrap();
        }
    }
    let gone = async |s: Uuid| {
        assert_eq!(repo.session(s).await.unwrap(), None);
        assert_eq!(repo.seat(s, user).await.unwrap(), None);
        assert!(repo.participants(s, None, 10).await.unwrap().is_empty());
        assert_eq!(repo.message(s, 1).await.unwrap(), None);
        assert!(
            repo.messages(s, MessageRange::default(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(is_not_found(repo.join(s, user, Side::Pro, None, now).await));
        assert!(is_not_found(
            append(repo, argument(s, user, Side::Pro, "x", now)).await
        ));
        assert!(is_not_found(
            repo.transition(s, SessionStatus::Scheduled, SessionStatus::Live, now, &[])
                .await
        ));
        assert!(is_not_found(repo.delete_session(s).await), "once");
    };

    repo.delete_session(s1.id).await.unwrap();
    gone(s1.id).await;
    assert_eq!(repo.session(s2.id).await.unwrap(), Some(s2.clone()));
    assert!(repo.seat(s2.id, user).await.unwrap().is_some());

    repo.delete_topic(t.id).await.unwrap();
    assert_eq!(repo.topic(t.id).await.unwrap(), None);
    gone(s2.id).await;
    assert!(
        repo.list_sessions(
            SessionFilter {
                topic_id: Some(t.id),
                ..SessionFilter::default()
            },
            None,
            10
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(is_not_found(repo.delete_topic(t.id).await), "once");
    assert!(is_not_found(repo.update_topic(t.id, "X", "Y").await));
    assert!(is_not_found(
        repo.insert_session(session(&t, now), &[]).await
    ));

    // The other topic is untouched.
    assert_eq!(repo.topic(keep_t.id).await.unwrap(), Some(keep_t));
    assert_eq!(repo.session(keep_s.id).await.unwrap(), Some(keep_s.clone()));
    assert!(repo.seat(keep_s.id, user).await.unwrap().is_some());
    assert_eq!(
        repo.messages(keep_s.id, MessageRange::default(), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        append(repo, argument(keep_s.id, user, Side::Pro, "x", now))
            .await
            .unwrap()
            .seq,
        3
    );
    assert!(is_not_found(repo.delete_topic(Uuid::new_v4()).await));
    assert!(is_not_found(repo.delete_session(Uuid::new_v4()).await));
}

/// Everyone who ever took a seat is listed once, by user id — those who left and came
/// back or moved sides too — and paged; other sessions' seats are not.
pub async fn ever_seated_users_are_everyone_who_took_part(
    repo: &dyn DebateRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let later = now + TimeDelta::minutes(1);
    let (_, s) = topic_with_session(repo, now).await;
    let (_, other) = topic_with_session(repo, now).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(existing_user(users, now).await.0);
    }
    ids.sort_unstable();
    let (stays, leaves, moves) = (ids[0], ids[1], ids[2]);
    seated(repo.join(s.id, stays, Side::Pro, None, now).await.unwrap());
    seated(
        repo.join(s.id, leaves, Side::Audience, None, now)
            .await
            .unwrap(),
    );
    repo.leave(s.id, leaves, later).await.unwrap();
    seated(repo.join(s.id, moves, Side::Pro, None, now).await.unwrap());
    seated(
        repo.join(s.id, moves, Side::Con, None, later)
            .await
            .unwrap(),
    );
    repo.leave(s.id, moves, later).await.unwrap();
    seated(
        repo.join(s.id, moves, Side::Con, None, later)
            .await
            .unwrap(),
    );
    let outsider = existing_user(users, now).await.0;
    seated(
        repo.join(other.id, outsider, Side::Pro, None, now)
            .await
            .unwrap(),
    );

    assert_eq!(
        repo.ever_seated_users(s.id, None, 10).await.unwrap(),
        ids,
        "each once, by id"
    );
    assert_eq!(
        repo.ever_seated_users(s.id, None, 2).await.unwrap(),
        ids[..2].to_vec()
    );
    assert_eq!(
        repo.ever_seated_users(s.id, Some(ids[1]), 2).await.unwrap(),
        vec![ids[2]]
    );
    assert!(
        repo.ever_seated_users(Uuid::new_v4(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn scoped(scope: impl Into<String>) -> TopicFilter {
    TopicFilter {
        scope: Some(scope.into()),
        readable: None,
    }
}

/// Topics are private to their scope when stored; opening one to the public opens its
/// sessions with it (those stored before and after), atomically; lists restricted to
/// `readable` scopes return what is in those scopes or public, and nothing else.
pub async fn visibility_and_readable_lists(
    repo: &dyn DebateRepository,
    _users: &dyn UserRepository,
) {
    let now = clock().now();
    let (mine, theirs) = (fresh_scope(), fresh_scope());
    let open = topic(&theirs, None, now);
    let closed = topic(&theirs, None, now);
    let own = topic(&mine, None, now);
    for t in [&open, &closed, &own] {
        repo.insert_topic(t.clone(), &[]).await.unwrap();
        assert_eq!(
            repo.topic(t.id).await.unwrap().unwrap().visibility,
            Visibility::Members,
            "private by default"
        );
    }
    let before = session(&open, now);
    repo.insert_session(before.clone(), &[]).await.unwrap();
    repo.set_topic_visibility(open.id, Visibility::Public)
        .await
        .unwrap();
    let after = session(&open, now);
    repo.insert_session(after.clone(), &[]).await.unwrap();
    let hidden = session(&closed, now);
    repo.insert_session(hidden.clone(), &[]).await.unwrap();
    assert_eq!(
        repo.topic(open.id).await.unwrap().unwrap().visibility,
        Visibility::Public
    );
    for s in [&before, &after] {
        assert_eq!(
            repo.session(s.id).await.unwrap().unwrap().visibility,
            Visibility::Public,
            "a session follows its topic"
        );
    }
    assert_eq!(
        repo.session(hidden.id).await.unwrap().unwrap().visibility,
        Visibility::Members
    );
    assert!(matches!(
        repo.set_topic_visibility(Uuid::new_v4(), Visibility::Public)
            .await,
        Err(StoreError::NotFound)
    ));

    let readable = Some(vec!["global".to_owned(), mine.clone()]);
    let topics: Vec<Uuid> = repo
        .list_topics(
            TopicFilter {
                scope: None,
                readable: readable.clone(),
            },
            None,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(topics.contains(&own.id) && topics.contains(&open.id));
    assert!(
        !topics.contains(&closed.id),
        "private elsewhere: not listed"
    );
    let in_theirs = repo
        .list_topics(
            TopicFilter {
                scope: Some(theirs.clone()),
                readable: readable.clone(),
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        in_theirs.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![open.id],
        "narrowed to one scope, still only what is readable"
    );
    let sessions: Vec<Uuid> = repo
        .list_sessions(
            SessionFilter {
                scope: Some(theirs.clone()),
                readable,
                ..SessionFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut expected = vec![before.id, after.id];
    expected.sort();
    assert_eq!(sessions, expected);

    repo.set_topic_visibility(open.id, Visibility::Members)
        .await
        .unwrap();
    assert_eq!(
        repo.session(before.id).await.unwrap().unwrap().visibility,
        Visibility::Members,
        "closed again, with its sessions"
    );
}
