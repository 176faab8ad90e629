//! Contract of [`LoginSessionRepository`]: sessions, rotating refresh tokens, theft
//! detection and revocation.

use chrono::{DateTime, Duration, Utc};
use domain_core::Clock;
use domain_identity::session::RefreshToken;
use domain_identity::{
    ClientInfo, LoginSession, LoginSessionRepository, NewLoginSession, RefreshTokenHash,
    RotateOutcome, SessionId, UserId, UserRepository,
};
use futures_util::future::join_all;

use crate::{clock, existing_user};

/// Lifetime of the sessions opened here.
const TTL: Duration = Duration::hours(1);

fn token() -> RefreshTokenHash {
    RefreshToken::generate().unwrap().hash
}

fn new_session(user: UserId, at: DateTime<Utc>) -> NewLoginSession {
    NewLoginSession {
        id: SessionId::new_random(),
        user_id: user,
        client: ClientInfo::new(Some("Mozilla/5.0 (contract)"), Some("203.0.113.7".into())),
        created_at: at,
        expires_at: at + TTL,
    }
}

/// Opens a session at `at`; returns it and its first token.
async fn open(
    sessions: &dyn LoginSessionRepository,
    user: UserId,
    at: DateTime<Utc>,
) -> (LoginSession, RefreshTokenHash) {
    let first = token();
    let session = sessions
        .create(new_session(user, at), first.clone())
        .await
        .unwrap();
    (session, first)
}

fn rotated(outcome: RotateOutcome) -> LoginSession {
    match outcome {
        RotateOutcome::Rotated(s) => s,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

/// A created session is stored as given, active, and found by id.
pub async fn create_and_get(users: &dyn UserRepository, sessions: &dyn LoginSessionRepository) {
    let now = clock().now();
    let user = existing_user(users, now).await;
    let new = new_session(user, now);
    let session = sessions.create(new.clone(), token()).await.unwrap();
    assert_eq!(session.id, new.id);
    assert_eq!(session.user_id, user);
    assert_eq!(session.client, new.client);
    assert_eq!(session.created_at, now);
    assert_eq!(session.last_used_at, now, "never refreshed yet");
    assert_eq!(session.expires_at, now + TTL);
    assert_eq!(session.revoked_at, None);
    assert_eq!(sessions.get(session.id).await.unwrap(), Some(session));

    let anonymous = NewLoginSession {
        client: ClientInfo::default(),
        ..new_session(user, now)
    };
    let stored = sessions.create(anonymous, token()).await.unwrap();
    assert_eq!(
        stored.client,
        ClientInfo::default(),
        "client details are optional"
    );

    assert_eq!(sessions.get(SessionId::new_random()).await.unwrap(), None);
}

/// Each fresh token yields the session with `last_used_at` moved to `now`, and its
/// successor is the one that works next.
pub async fn rotation_hands_on(users: &dyn UserRepository, sessions: &dyn LoginSessionRepository) {
    let clock = clock();
    let user = existing_user(users, clock.now()).await;
    let (session, mut current) = open(sessions, user, clock.now()).await;
    for _ in 0..3 {
        clock.advance(Duration::minutes(5));
        let next = token();
        let s = rotated(sessions.rotate(&current, &next, clock.now()).await.unwrap());
        assert_eq!(s.id, session.id);
        assert_eq!(s.last_used_at, clock.now());
        assert_eq!(s.created_at, session.created_at);
        assert_eq!(s.revoked_at, None);
        current = next;
    }
    let stored = sessions.get(session.id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, clock.now());
    assert!(stored.is_active(clock.now()));
}

/// Presenting a token a second time revokes its session (theft detection); after that
/// no token of the session works, the reused one included.
pub async fn reuse_revokes_the_session(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let clock = clock();
    let user = existing_user(users, clock.now()).await;
    let (session, first) = open(sessions, user, clock.now()).await;
    let second = token();
    clock.advance(Duration::minutes(1));
    rotated(sessions.rotate(&first, &second, clock.now()).await.unwrap());

    clock.advance(Duration::minutes(1));
    let reuse_at = clock.now();
    match sessions.rotate(&first, &token(), reuse_at).await.unwrap() {
        RotateOutcome::Reused(s) => {
            assert_eq!(s.id, session.id);
            assert_eq!(s.revoked_at, Some(reuse_at), "revoked at the reuse");
        }
        other => panic!("a used token must be reported as Reused, got {other:?}"),
    }
    let stored = sessions.get(session.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(reuse_at));

    clock.advance(Duration::minutes(1));
    assert_eq!(
        sessions
            .rotate(&second, &token(), clock.now())
            .await
            .unwrap(),
        RotateOutcome::Invalid,
        "the legitimate holder's token dies with the session"
    );
    assert_eq!(
        sessions
            .rotate(&first, &token(), clock.now())
            .await
            .unwrap(),
        RotateOutcome::Invalid,
        "a revoked session reports Invalid, not Reused again"
    );
    assert_eq!(
        sessions.get(session.id).await.unwrap().unwrap().revoked_at,
        Some(reuse_at),
        "revocation time is not moved by later attempts"
    );
    assert!(
        sessions
            .list_active(user, clock.now())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Unknown tokens, and tokens of expired or revoked sessions, are Invalid and change
/// nothing: the token stays unused and the successor is not stored.
pub async fn invalid_tokens_change_nothing(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let clock = clock();
    let start = clock.now();
    let user = existing_user(users, start).await;

    assert_eq!(
        sessions.rotate(&token(), &token(), start).await.unwrap(),
        RotateOutcome::Invalid,
        "unknown token"
    );

    // Expired: presented at and after `expires_at`.
    let (session, first) = open(sessions, user, start).await;
    let successor = token();
    for late in [start + TTL, start + TTL + Duration::days(1)] {
        assert_eq!(
            sessions.rotate(&first, &successor, late).await.unwrap(),
            RotateOutcome::Invalid,
            "expired session"
        );
    }
    assert_eq!(
        sessions.get(session.id).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        sessions.rotate(&successor, &token(), start).await.unwrap(),
        RotateOutcome::Invalid,
        "the refused call stored no successor"
    );
    // The refused calls did not consume the token: presented within the session's
    // lifetime it still rotates (rather than being taken for a reuse).
    let just_in_time = start + TTL - Duration::seconds(1);
    let s = rotated(
        sessions
            .rotate(&first, &token(), just_in_time)
            .await
            .unwrap(),
    );
    assert_eq!(s.last_used_at, just_in_time);

    // Revoked: neither fresh nor used tokens do anything.
    let (session, first) = open(sessions, user, start).await;
    clock.advance(Duration::minutes(1));
    let second = token();
    rotated(sessions.rotate(&first, &second, clock.now()).await.unwrap());
    clock.advance(Duration::minutes(1));
    assert!(sessions.revoke(session.id, clock.now()).await.unwrap());
    let revoked = sessions.get(session.id).await.unwrap().unwrap();
    clock.advance(Duration::minutes(1));
    for presented in [&second, &first] {
        assert_eq!(
            sessions
                .rotate(presented, &token(), clock.now())
                .await
                .unwrap(),
            RotateOutcome::Invalid,
            "revoked session"
        );
    }
    assert_eq!(sessions.get(session.id).await.unwrap(), Some(revoked));
}

/// A user's active sessions come newest first, without revoked, expired or other
/// users' sessions.
pub async fn list_active_newest_first(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let clock = clock();
    let start = clock.now();
    let user = existing_user(users, start).await;
    let other = existing_user(users, start).await;

    let (old, _) = open(sessions, user, start - TTL - Duration::minutes(1)).await; // expired
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, _) = open(sessions, user, start + Duration::seconds(i)).await;
        ids.push(s.id);
    }
    let (gone, _) = open(sessions, user, start + Duration::seconds(10)).await;
    sessions
        .revoke(gone.id, start + Duration::seconds(11))
        .await
        .unwrap();
    open(sessions, other, start + Duration::seconds(20)).await;

    clock.advance(Duration::seconds(30));
    let listed: Vec<SessionId> = sessions
        .list_active(user, clock.now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first, only active ones");
    assert!(!listed.contains(&old.id));

    // An hour later the first two of them have expired too.
    let later = start + TTL + Duration::seconds(1);
    let listed: Vec<SessionId> = sessions
        .list_active(user, later)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        ids[..1].to_vec(),
        "expiry is judged at the given time"
    );
    assert!(
        sessions
            .list_active(UserId::new_random(), later)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `revoke` ends an active session once and says whether it did.
pub async fn revoke_reports_whether_active(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let clock = clock();
    let user = existing_user(users, clock.now()).await;
    let (session, first) = open(sessions, user, clock.now()).await;
    clock.advance(Duration::minutes(1));
    let revoked_at = clock.now();
    assert!(sessions.revoke(session.id, revoked_at).await.unwrap());
    clock.advance(Duration::minutes(1));
    assert!(
        !sessions.revoke(session.id, clock.now()).await.unwrap(),
        "already revoked"
    );
    let stored = sessions.get(session.id).await.unwrap().unwrap();
    assert_eq!(
        stored.revoked_at,
        Some(revoked_at),
        "first revocation time is kept"
    );
    assert!(!stored.is_active(clock.now()));
    assert_eq!(
        sessions
            .rotate(&first, &token(), clock.now())
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    assert!(
        !sessions
            .revoke(SessionId::new_random(), clock.now())
            .await
            .unwrap()
    );
    let (expired, _) = open(sessions, user, clock.now() - TTL - Duration::seconds(1)).await;
    assert!(
        !sessions.revoke(expired.id, clock.now()).await.unwrap(),
        "an expired session was not active"
    );
}

/// `revoke_all_for_user` ends every active session of the user except `keep`, returns
/// exactly those, and leaves other users alone.
pub async fn revoke_all_except_keep(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let clock = clock();
    let start = clock.now();
    let user = existing_user(users, start).await;
    let other = existing_user(users, start).await;
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(
            open(sessions, user, start + Duration::seconds(i))
                .await
                .0
                .id,
        );
    }
    let (theirs, _) = open(sessions, other, start).await;
    let (already, _) = open(sessions, user, start).await;
    sessions.revoke(already.id, start).await.unwrap();
    let (expired, _) = open(sessions, user, start - TTL - Duration::seconds(1)).await;

    clock.advance(Duration::minutes(1));
    let keep = mine[1];
    let mut ended = sessions
        .revoke_all_for_user(user, Some(keep), clock.now())
        .await
        .unwrap();
    ended.sort();
    let mut expected = vec![mine[0], mine[2]];
    expected.sort();
    assert_eq!(ended, expected, "only active sessions other than `keep`");

    let active: Vec<SessionId> = sessions
        .list_active(user, clock.now())
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(active, vec![keep]);
    for id in &expected {
        let s = sessions.get(*id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(clock.now()));
    }
    assert_eq!(
        sessions.get(already.id).await.unwrap().unwrap().revoked_at,
        Some(start)
    );
    assert_eq!(
        sessions.get(expired.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert!(
        sessions
            .get(theirs.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(clock.now())
    );

    clock.advance(Duration::minutes(1));
    assert_eq!(
        sessions
            .revoke_all_for_user(user, None, clock.now())
            .await
            .unwrap(),
        vec![keep]
    );
    assert!(
        sessions
            .revoke_all_for_user(user, None, clock.now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        sessions
            .list_active(user, clock.now())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        sessions
            .get(theirs.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(clock.now())
    );
}

/// Many concurrent presentations of one token: exactly one rotates. The others see a
/// reused token (which revokes the session) or, once it is revoked, an invalid one.
pub async fn concurrent_rotation_has_one_winner(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    const CALLERS: usize = 16;
    let clock = clock();
    let user = existing_user(users, clock.now()).await;
    let (session, first) = open(sessions, user, clock.now()).await;
    clock.advance(Duration::seconds(1));
    let now = clock.now();
    let successors: Vec<RefreshTokenHash> = (0..CALLERS).map(|_| token()).collect();
    let outcomes = join_all(
        successors
            .iter()
            .map(|next| sessions.rotate(&first, next, now)),
    )
    .await;

    let (mut won, mut reused, mut invalid) = (0, 0, 0);
    for outcome in outcomes {
        match outcome.unwrap() {
            RotateOutcome::Rotated(_) => won += 1,
            RotateOutcome::Reused(_) => reused += 1,
            RotateOutcome::Invalid => invalid += 1,
        }
    }
    assert_eq!(
        won, 1,
        "exactly one rotation ({reused} reused, {invalid} invalid)"
    );
    assert!(reused >= 1, "a second presentation is a reuse");
    assert_eq!(won + reused + invalid, CALLERS);
    let stored = sessions.get(session.id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some(), "the reuse revoked the session");
    for next in &successors {
        assert_eq!(
            sessions.rotate(next, &token(), now).await.unwrap(),
            RotateOutcome::Invalid,
            "no successor outlives the revoked session"
        );
    }
}

/// Purging removes the sessions that ended before the cut — expired or revoked — with
/// their tokens, and keeps every other session usable.
pub async fn purge_removes_only_ended_sessions(
    users: &dyn UserRepository,
    sessions: &dyn LoginSessionRepository,
) {
    let now = clock().now();
    let user = existing_user(users, now).await;
    // opened two hours ago: expired an hour ago
    let (expired, expired_token) = open(sessions, user, now - Duration::hours(2)).await;
    let (revoked, _) = open(sessions, user, now).await;
    assert!(sessions.revoke(revoked.id, now).await.unwrap());
    let (active, active_token) = open(sessions, user, now).await;

    // a cut before the revocation keeps the revoked session
    let purged = sessions
        .purge_ended(now - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 1, "only the expired session ended before the cut");
    assert!(sessions.get(expired.id).await.unwrap().is_none());
    assert!(sessions.get(revoked.id).await.unwrap().is_some());
    assert_eq!(
        sessions
            .rotate(&expired_token, &token(), now)
            .await
            .unwrap(),
        RotateOutcome::Invalid
    );

    let purged = sessions
        .purge_ended(now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 1, "the revoked session ended before this cut");
    assert!(sessions.get(revoked.id).await.unwrap().is_none());
    assert_eq!(
        sessions.get(active.id).await.unwrap().unwrap().id,
        active.id
    );
    rotated(sessions.rotate(&active_token, &token(), now).await.unwrap());
}
