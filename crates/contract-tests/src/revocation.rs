//! Contract of [`RevocationList`].

use chrono::Duration;
use domain_core::Clock;
use domain_identity::{RevocationList, SessionId};
use uuid::Uuid;

use crate::clock;

/// A revoked token is refused whatever its session; a revoked session refuses every
/// token; nothing else is refused.
pub async fn tokens_and_sessions(list: &dyn RevocationList) {
    let now = clock().now();
    let until = now + Duration::minutes(15);
    let (jti, other_jti) = (Uuid::new_v4(), Uuid::new_v4());
    let (sid, other_sid) = (SessionId::new_random(), SessionId::new_random());

    assert!(
        !list.is_revoked(jti, sid, now).await.unwrap(),
        "nothing revoked yet"
    );

    list.revoke_token(jti, until).await.unwrap();
    assert!(list.is_revoked(jti, sid, now).await.unwrap());
    assert!(
        list.is_revoked(jti, other_sid, now).await.unwrap(),
        "token alone suffices"
    );
    assert!(
        !list.is_revoked(other_jti, sid, now).await.unwrap(),
        "other tokens pass"
    );

    list.revoke_session(other_sid, until).await.unwrap();
    assert!(
        list.is_revoked(other_jti, other_sid, now).await.unwrap(),
        "any token of it"
    );
    assert!(
        list.is_revoked(Uuid::new_v4(), other_sid, now)
            .await
            .unwrap()
    );
    assert!(
        !list.is_revoked(other_jti, sid, now).await.unwrap(),
        "other sessions pass"
    );

    // Revoking twice is harmless.
    list.revoke_token(jti, until).await.unwrap();
    list.revoke_session(other_sid, until).await.unwrap();
    assert!(list.is_revoked(jti, sid, now).await.unwrap());
    assert!(list.is_revoked(other_jti, other_sid, now).await.unwrap());
}

/// Entries hold until `until` and lapse from then on, judged by the `now` given.
pub async fn entries_expire_at_until(list: &dyn RevocationList) {
    let clock = clock();
    let now = clock.now();
    let (jti, sid) = (Uuid::new_v4(), SessionId::new_random());
    let (token_until, session_until) = (now + Duration::seconds(60), now + Duration::seconds(120));
    list.revoke_token(jti, token_until).await.unwrap();
    list.revoke_session(sid, session_until).await.unwrap();
    let unrelated_sid = SessionId::new_random();
    let unrelated_jti = Uuid::new_v4();

    let token_refused = async |at| list.is_revoked(jti, unrelated_sid, at).await.unwrap();
    let session_refused = async |at| list.is_revoked(unrelated_jti, sid, at).await.unwrap();

    assert!(token_refused(token_until - Duration::seconds(1)).await);
    assert!(!token_refused(token_until).await, "lapses at `until`");
    // Instances' clocks differ by a little, so times may be asked about out of order:
    // an entry that looked lapsed to one caller still holds for an earlier `now`.
    assert!(token_refused(now).await);
    assert!(session_refused(session_until - Duration::seconds(1)).await);
    assert!(!session_refused(session_until).await, "lapses at `until`");
    assert!(session_refused(now).await);
    assert!(!token_refused(token_until + Duration::hours(1)).await);
    assert!(!session_refused(session_until + Duration::hours(1)).await);

    // Already past: recorded, but refuses nothing at or after that time.
    let stale = Uuid::new_v4();
    list.revoke_token(stale, now - Duration::seconds(5))
        .await
        .unwrap();
    assert!(!list.is_revoked(stale, unrelated_sid, now).await.unwrap());
}

/// A second revocation never shortens the first: the later `until` wins.
pub async fn later_until_wins(list: &dyn RevocationList) {
    let now = clock().now();
    let (jti, sid) = (Uuid::new_v4(), SessionId::new_random());
    let unrelated_sid = SessionId::new_random();
    let long = now + Duration::minutes(30);
    let short = now + Duration::minutes(5);

    list.revoke_session(sid, long).await.unwrap();
    list.revoke_session(sid, short).await.unwrap();
    let mid = now + Duration::minutes(10);
    assert!(
        list.is_revoked(Uuid::new_v4(), sid, mid).await.unwrap(),
        "kept the longer one"
    );

    list.revoke_token(jti, short).await.unwrap();
    list.revoke_token(jti, long).await.unwrap();
    assert!(
        list.is_revoked(jti, unrelated_sid, mid).await.unwrap(),
        "extended"
    );
    assert!(!list.is_revoked(jti, unrelated_sid, long).await.unwrap());
}
