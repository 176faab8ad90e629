//! The Redis plumbing itself: key layout and expiry, connection errors and the test
//! helper's cleanup. The adapters' behaviour is checked by the port contracts in
//! `contract-tests`.
//!
//! Without a reachable server these tests return early after one `SKIPPED` line on
//! stderr; with `CI=true` they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use adapter_redis::testing::{TestRedis, keys_with_prefix};
use adapter_redis::{RedisAttemptLimiter, RedisRevocationList, connect, ping};
use bb8_redis::redis;
use chrono::{DurationRound, TimeDelta};
use domain_core::{Clock, StoreError, SystemClock};
use domain_identity::{AttemptLimiter, RevocationList, SessionId};
use uuid::Uuid;

async fn pttl(redis: &TestRedis, key: &str) -> i64 {
    let mut conn = redis.pool().get().await.unwrap();
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut *conn)
        .await
        .unwrap()
}

/// Every key lives under the adapter's prefix, named as documented, and expires on its
/// own a little after it stops mattering.
#[tokio::test]
async fn keys_are_prefixed_and_expire() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let prefix = redis.prefix().to_owned();
    let now = SystemClock
        .now()
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap();
    let (jti, sid) = (Uuid::new_v4(), SessionId::new_random());

    let list = RedisRevocationList::new(redis.pool().clone(), prefix.clone());
    list.revoke_token(jti, now + TimeDelta::seconds(300))
        .await
        .unwrap();
    list.revoke_session(sid, now + TimeDelta::seconds(600))
        .await
        .unwrap();
    let limiter = RedisAttemptLimiter::new(redis.pool().clone(), prefix.clone());
    limiter
        .record_failure("login:account:alice", 900, now)
        .await
        .unwrap();

    let mut keys = keys_with_prefix(redis.pool(), &prefix).await.unwrap();
    keys.sort();
    let token_key = format!("{prefix}revoked:jti:{jti}");
    let session_key = format!("{prefix}revoked:sid:{sid}");
    let attempts_key = format!("{prefix}attempts:login:account:alice");
    let mut expected = vec![token_key.clone(), session_key.clone(), attempts_key.clone()];
    expected.sort();
    assert_eq!(keys, expected);

    // Until + a minute's grace, measured on Redis's clock (the test's may differ a bit).
    let ttl = pttl(&redis, &token_key).await;
    assert!((300_000..=362_000).contains(&ttl), "token key ttl {ttl}");
    let ttl = pttl(&redis, &session_key).await;
    assert!((600_000..=662_000).contains(&ttl), "session key ttl {ttl}");
    let ttl = pttl(&redis, &attempts_key).await;
    assert!((900_000..=960_000).contains(&ttl), "window key ttl {ttl}");

    // A later failure in the same window does not extend the key's life.
    limiter
        .record_failure("login:account:alice", 900, now)
        .await
        .unwrap();
    assert!(pttl(&redis, &attempts_key).await <= ttl);
    limiter.reset("login:account:alice").await.unwrap();
    assert_eq!(
        pttl(&redis, &attempts_key).await,
        -2,
        "reset deletes the key"
    );

    redis.cleanup().await;
}

/// A server that is not there gives `Unavailable`, promptly; a malformed URL is refused.
#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let started = Instant::now();
    assert!(matches!(
        connect("redis://127.0.0.1:1").await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(connect("not a url").await.is_err());
}

/// The test helper deletes its prefix's keys on `cleanup` and on drop.
#[tokio::test]
async fn test_prefixes_are_cleaned_up() {
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    ping(redis.pool()).await.unwrap();
    let observer = redis.pool().clone();
    let prefix = redis.prefix().to_owned();
    assert!(prefix.starts_with("test:") && prefix.ends_with(':'));
    let limiter = RedisAttemptLimiter::new(observer.clone(), prefix.clone());
    for i in 0..3 {
        limiter
            .record_failure(&format!("k{i}"), 60, SystemClock.now())
            .await
            .unwrap();
    }
    assert_eq!(keys_with_prefix(&observer, &prefix).await.unwrap().len(), 3);
    redis.cleanup().await;
    assert!(
        keys_with_prefix(&observer, &prefix)
            .await
            .unwrap()
            .is_empty()
    );

    let redis = TestRedis::create().await.unwrap();
    let prefix = redis.prefix().to_owned();
    let limiter = RedisAttemptLimiter::new(redis.pool().clone(), prefix.clone());
    limiter
        .record_failure("k", 60, SystemClock.now())
        .await
        .unwrap();
    drop(redis);
    assert!(
        keys_with_prefix(&observer, &prefix)
            .await
            .unwrap()
            .is_empty()
    );
}
