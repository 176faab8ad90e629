//! Contract of [`ActivityRollup`], with the [`DebateRepository`] and [`VoteRepository`]
//! whose rows it counts (one adapter serves all three) and the [`UserRepository`] whose
//! accounts take part.
//!
//! Activity is made on two fixed past days, at explicit times, in two scopes of the
//! contract's own; other rows of the store (other scopes) are filtered out of what is
//! checked.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use domain_debates::{
    ActivityRollup, Ballot, CastOutcome, DailyActivity, DebateRepository, DebateSession,
    NewMessage, ScopeRestriction, SessionStatus, Side, Topic, Vote, VoteRepository,
};
use domain_identity::UserRepository;
use uuid::Uuid;

use crate::debates::append;
use crate::{existing_user, tag};

fn day1() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 2, 3).unwrap()
}

fn day2() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 2, 4).unwrap()
}

/// `day` at `h:m:s` UTC.
fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_opt(h, m, s).unwrap())
        .and_utc()
}

async fn scheduled_session(
    debates: &dyn DebateRepository,
    scope: &str,
    created: DateTime<Utc>,
) -> DebateSession {
    let topic = Topic {
        id: Uuid::new_v4(),
        title: format!("Topic {}", tag()),
        description: "Whether the motion should pass.".into(),
        scope: scope.into(),
        visibility: Default::default(),
        created_by: None,
        created_at: created,
    };
    debates.insert_topic(topic.clone(), &[]).await.unwrap();
    let session = DebateSession {
        id: Uuid::new_v4(),
        topic_id: topic.id,
        scope: scope.into(),
        visibility: Default::default(),
        title: format!("Session {}", tag()),
        scheduled_start: created + TimeDelta::hours(1),
        scheduled_end: None,
        max_per_side: None,
        status: SessionStatus::Scheduled,
        created_by: None,
        created_at: created,
        started_at: None,
        closed_at: None,
        voting_window_seconds: 600,
        voting_closes_at: None,
    };
    debates.insert_session(session.clone(), &[]).await.unwrap();
    session
}

async fn moved(
    debates: &dyn DebateRepository,
    s: &DebateSession,
    from: SessionStatus,
    to: SessionStatus,
    when: DateTime<Utc>,
) {
    debates
        .transition(s.id, from, to, when, &[])
        .await
        .unwrap()
        .expect("the session moved");
}

async fn seat(
    debates: &dyn DebateRepository,
    s: &DebateSession,
    user: Uuid,
    side: Side,
    when: DateTime<Utc>,
) {
    debates.join(s.id, user, side, None, when).await.unwrap();
}

async fn argue(
    debates: &dyn DebateRepository,
    s: &DebateSession,
    author: Uuid,
    when: DateTime<Utc>,
) {
    append(
        debates,
        NewMessage {
            session_id: s.id,
            author_id: author,
            side: Side::Pro,
            body: format!("argument {}", tag()),
            reply_to: None,
            created_at: when,
        },
    )
    .await
    .unwrap();
}

async fn cast(
    votes: &dyn VoteRepository,
    s: &DebateSession,
    user: Uuid,
    ballot: Ballot,
    when: DateTime<Utc>,
) {
    let vote = Vote {
        session_id: s.id,
        user_id: user,
        ballot,
        side: (ballot == Ballot::Winner).then_some(Side::Pro),
        seq: (ballot == Ballot::BestArgument).then_some(1),
        cast_at: when,
    };
    assert_eq!(
        votes.cast(vote, when).await.unwrap(),
        CastOutcome::Cast { replaced: false }
    );
}

fn figures(
    day: NaiveDate,
    scope: &str,
    [
        sessions_started,
        sessions_closed,
        messages,
        votes,
        participants,
    ]: [u64; 5],
) -> DailyActivity {
    DailyActivity {
        day,
        scope: scope.into(),
        sessions_started,
        sessions_closed,
        messages,
        votes,
        participants,
    }
}

/// Stored rows of `scopes` only, from `from` to `to`, as the store orders them.
async fn ours(
    rollup: &dyn ActivityRollup,
    scopes: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<DailyActivity> {
    rollup
        .daily(None, None, from, to)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| scopes.contains(&r.scope.as_str()))
        .collect()
}

/// A roll-up counts each scope's sessions started and closed, arguments, votes and
/// distinct seated users within the UTC day (midnight belongs to the day it starts);
/// rolling up again replaces the day's rows (a scope whose activity went away loses its
/// row, nothing is added twice) and leaves other days alone; reads filter by scope and
/// range, ordered by day then scope.
pub async fn daily_figures_per_scope_replace_on_recompute(
    debates: &dyn DebateRepository,
    votes: &dyn VoteRepository,
    rollup: &dyn ActivityRollup,
    users: &dyn UserRepository,
) {
    let (d1, d2) = (day1(), day2());
    // two scopes of our own, named so that `a` sorts first
    let id = Uuid::new_v4().simple().to_string();
    let a = format!(
        "campus:{}",
        Uuid::parse_str(&format!("0{}", &id[1..])).unwrap()
    );
    let b = format!(
        "campus:{}",
        Uuid::parse_str(&format!("f{}", &id[1..])).unwrap()
    );
    let created = at(d1, 8, 0, 0);
    let mut u = Vec::new();
    for _ in 0..4 {
        u.push(existing_user(users, created).await.0);
    }

    // Scope a, day 1: a session runs from 10:00 to 20:00; three people sit (one moves
    // side: still one person), three arguments, three votes after the close.
    let a1 = scheduled_session(debates, &a, created).await;
    moved(
        debates,
        &a1,
        SessionStatus::Scheduled,
        SessionStatus::Live,
        at(d1, 10, 0, 0),
    )
    .await;
    seat(debates, &a1, u[0], Side::Pro, at(d1, 10, 0, 0)).await;
    seat(debates, &a1, u[1], Side::Con, at(d1, 10, 1, 0)).await;
    seat(debates, &a1, u[2], Side::Audience, at(d1, 10, 2, 0)).await;
    seat(debates, &a1, u[0], Side::Con, at(d1, 10, 3, 0)).await;
    argue(debates, &a1, u[0], at(d1, 11, 0, 0)).await;
    argue(debates, &a1, u[0], at(d1, 11, 5, 0)).await;
    argue(debates, &a1, u[1], at(d1, 11, 10, 0)).await;
    moved(
        debates,
        &a1,
        SessionStatus::Live,
        SessionStatus::Closed,
        at(d1, 20, 0, 0),
    )
    .await;
    cast(votes, &a1, u[2], Ballot::Winner, at(d1, 20, 5, 0)).await;
    cast(votes, &a1, u[1], Ballot::BestArgument, at(d1, 20, 5, 0)).await;
    cast(votes, &a1, u[0], Ballot::Winner, at(d1, 20, 9, 0)).await;

    // Scope b: a session starts late on day 1 and closes on day 2; another one is
    // cancelled on day 2 (closed without running).
    let b1 = scheduled_session(debates, &b, created).await;
    let b2 = scheduled_session(debates, &b, created).await;
    moved(
        debates,
        &b1,
        SessionStatus::Scheduled,
        SessionStatus::Live,
        at(d1, 23, 0, 0),
    )
    .await;
    seat(debates, &b1, u[3], Side::Audience, at(d1, 23, 0, 0)).await;
    seat(debates, &b1, u[0], Side::Pro, at(d1, 23, 30, 0)).await;
    argue(debates, &b1, u[0], at(d1, 23, 59, 59)).await;
    argue(debates, &b1, u[0], at(d2, 0, 0, 0)).await;
    moved(
        debates,
        &b1,
        SessionStatus::Live,
        SessionStatus::Closed,
        at(d2, 1, 0, 0),
    )
    .await;
    cast(votes, &b1, u[3], Ballot::Winner, at(d2, 1, 5, 0)).await;
    moved(
        debates,
        &b2,
        SessionStatus::Scheduled,
        SessionStatus::Closed,
        at(d2, 9, 0, 0),
    )
    .await;

    for day in [d1, d2] {
        let written = rollup.roll_up(day).await.unwrap();
        let stored = rollup.daily(None, None, day, day).await.unwrap();
        assert_eq!(
            written,
            stored.len() as u64,
            "rows written = rows stored for {day}"
        );
    }
    let a_d1 = figures(d1, &a, [1, 1, 3, 3, 3]);
    let b_d1 = figures(d1, &b, [1, 0, 1, 0, 2]);
    let b_d2 = figures(d2, &b, [0, 2, 1, 1, 0]);
    assert_eq!(
        ours(rollup, &[&a, &b], d1, d2).await,
        vec![a_d1.clone(), b_d1.clone(), b_d2.clone()],
        "by day, then scope; no row for a scope without activity (a on day 2)"
    );
    assert_eq!(
        rollup.daily(Some(a.clone()), None, d1, d2).await.unwrap(),
        vec![a_d1.clone()]
    );
    assert_eq!(
        rollup.daily(Some(b.clone()), None, d2, d2).await.unwrap(),
        vec![b_d2.clone()],
        "the range filters"
    );
    assert_eq!(
        rollup
            .daily(
                Some(b.clone()),
                None,
                d2.succ_opt().unwrap(),
                d2 + TimeDelta::days(30)
            )
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        rollup
            .daily(Some(format!("campus:{}", Uuid::new_v4())), None, d1, d2)
            .await
            .unwrap(),
        vec![],
        "an unknown scope has no rows"
    );
    // the scopes a reader may read: only those, or all but those
    let within = async |r: ScopeRestriction| {
        rollup
            .daily(None, Some(r), d1, d2)
            .await
            .unwrap()
            .into_iter()
            .filter(|row| row.scope == a || row.scope == b)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        within(ScopeRestriction::Only(vec![b.clone()])).await,
        vec![b_d1.clone(), b_d2.clone()]
    );
    assert_eq!(
        within(ScopeRestriction::AllBut(vec![b.clone()])).await,
        vec![a_d1.clone()]
    );
    assert_eq!(within(ScopeRestriction::Only(vec![])).await, vec![]);

    // The same data rolled up again: the same rows, nothing added.
    rollup.roll_up(d1).await.unwrap();
    assert_eq!(
        ours(rollup, &[&a, &b], d1, d1).await,
        vec![a_d1.clone(), b_d1.clone()]
    );

    // More activity on day 1 in a, and b's day-1 session deleted: a recompute of day 1
    // replaces a's figures, drops b's row, and keeps day 2 as it was stored.
    let a2 = scheduled_session(debates, &a, created).await;
    moved(
        debates,
        &a2,
        SessionStatus::Scheduled,
        SessionStatus::Live,
        at(d1, 15, 0, 0),
    )
    .await;
    seat(debates, &a2, u[3], Side::Pro, at(d1, 15, 0, 0)).await;
    seat(debates, &a2, u[0], Side::Con, at(d1, 15, 1, 0)).await;
    argue(debates, &a2, u[3], at(d1, 15, 5, 0)).await;
    debates.delete_session(b1.id).await.unwrap();
    rollup.roll_up(d1).await.unwrap();
    assert_eq!(
        ours(rollup, &[&a, &b], d1, d2).await,
        vec![figures(d1, &a, [2, 1, 4, 3, 4]), b_d2],
        "replaced, not added; other days untouched"
    );
}
