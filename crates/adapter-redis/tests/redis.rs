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

    // A lock replaces the window and lives as long as the lock, plus the grace.
    limiter
        .record_failure("login:account:alice", 900, now)
        .await
        .unwrap();
    limiter.lock("login:account:alice", 120, now).await.unwrap();
    let ttl = pttl(&redis, &attempts_key).await;
    assert!((120_000..=182_000).contains(&ttl), "lock key ttl {ttl}");

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

// ---------------------------------------------------------------------------------------
// RBAC: the subject cache's storage, and invalidations over pub/sub.

mod rbac {
    use std::sync::Arc;
    use std::time::Duration;

    use adapter_redis::testing::{TestRedis, keys_with_prefix, server_url};
    use adapter_redis::{
        InvalidationListener, InvalidationSink, RedisInvalidationBus, RedisSubjectCache,
        invalidation_channel,
    };
    use async_trait::async_trait;
    use bb8_redis::redis;
    use domain_rbac::{Invalidation, InvalidationBus, Subject, SubjectCache};
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use uuid::Uuid;

    /// What a listener handed to its sink, in order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Seen {
        Healthy(bool),
        Message(Invalidation),
    }

    struct Recorder(mpsc::UnboundedSender<Seen>);

    #[async_trait]
    impl InvalidationSink for Recorder {
        async fn apply(&self, message: Invalidation) {
            let _ = self.0.send(Seen::Message(message));
        }
        async fn feed_healthy(&self, healthy: bool) {
            let _ = self.0.send(Seen::Healthy(healthy));
        }
    }

    fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Recorder(tx)), rx)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>, within: Duration, what: &str) -> Seen {
        timeout(within, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {within:?}"))
            .expect("listener gone")
    }

    /// Spawns a listener and waits until it has subscribed.
    async fn subscribed(
        url: &str,
        prefix: &str,
    ) -> (InvalidationListener, mpsc::UnboundedReceiver<Seen>) {
        let (sink, mut rx) = recorder();
        let listener = InvalidationListener::spawn(url, prefix, sink).unwrap();
        let wait = Duration::from_secs(3);
        assert_eq!(
            next(&mut rx, wait, "first report").await,
            Seen::Healthy(false)
        );
        assert_eq!(
            next(&mut rx, wait, "subscription").await,
            Seen::Healthy(true)
        );
        (listener, rx)
    }

    /// Nothing more arrives within `quiet`.
    async fn nothing_more(rx: &mut mpsc::UnboundedReceiver<Seen>, quiet: Duration) {
        if let Ok(seen) = timeout(quiet, rx.recv()).await {
            panic!("unexpected {seen:?}");
        }
    }

    async fn query<T: redis::FromRedisValue>(redis: &TestRedis, cmd: &redis::Cmd) -> T {
        let mut conn = redis.pool().get().await.unwrap();
        cmd.query_async(&mut *conn).await.unwrap()
    }

    /// An ACL user of its own for one test's listener, so `CLIENT KILL` can target that
    /// listener's connection alone (`TYPE pubsub` by itself would also cut every other
    /// subscriber on the server, including other tests' listeners). Deleted, with its
    /// connections, on drop — also when the test fails.
    struct ListenerUser {
        name: String,
        /// The server as this user.
        url: String,
        /// The server as the test's own user, for the cleanup.
        admin_url: String,
    }

    impl ListenerUser {
        async fn create(redis: &TestRedis) -> Self {
            let name = format!("test-listener-{}", Uuid::new_v4().simple());
            let password = Uuid::new_v4().simple().to_string();
            let () = query(
                redis,
                redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg(&name)
                    .arg("on")
                    .arg(format!(">{password}"))
                    .arg("resetchannels")
                    .arg(format!("&{}*", redis.prefix()))
                    .arg("+@all"),
            )
            .await;
            let (scheme, rest) = redis.url().split_once("://").unwrap();
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            Self {
                url: format!("{scheme}://{name}:{password}@{host}"),
                name,
                admin_url: redis.url().to_owned(),
            }
        }

        /// `CLIENT KILL TYPE pubsub USER <name>`; returns how many connections died.
        async fn kill_subscribers(&self, redis: &TestRedis) -> i64 {
            query(
                redis,
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("pubsub")
                    .arg("USER")
                    .arg(&self.name),
            )
            .await
        }
    }

    impl Drop for ListenerUser {
        /// A blocking round trip: `Drop` cannot await, and a test can afford it.
        fn drop(&mut self) {
            let deleted = redis::Client::open(self.admin_url.as_str())
                .and_then(|client| client.get_connection())
                .and_then(|mut conn| {
                    redis::cmd("ACL")
                        .arg("DELUSER")
                        .arg(&self.name)
                        .query::<i64>(&mut conn)
                });
            if let Err(e) = deleted {
                eprintln!("warning: could not delete ACL user {}: {e}", self.name);
            }
        }
    }

    /// The cache's key layout and lifetime: `{prefix}rbac:subject:<uuid>`, JSON, EX ttl.
    #[tokio::test]
    async fn subject_cache_keys_are_prefixed_json_with_ttl() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let prefix = redis.prefix().to_owned();
        let cache = RedisSubjectCache::new(redis.pool().clone(), prefix.clone());
        let user_id = Uuid::new_v4();
        let subject = Subject::user(user_id, vec![], vec![]);
        cache.put(user_id, &subject, 300).await.unwrap();

        let key = format!("{prefix}rbac:subject:{user_id}");
        assert_eq!(
            keys_with_prefix(redis.pool(), &prefix).await.unwrap(),
            vec![key.clone()]
        );
        let raw: String = query(&redis, redis::cmd("GET").arg(&key)).await;
        assert_eq!(
            serde_json::from_str::<Subject>(&raw).unwrap(),
            subject,
            "plain JSON of the Subject"
        );
        let ttl: i64 = query(&redis, redis::cmd("PTTL").arg(&key)).await;
        assert!((298_000..=300_000).contains(&ttl), "ttl {ttl}");

        redis.cleanup().await;
    }

    /// A value that does not decode reads as absent and is deleted.
    #[tokio::test]
    async fn undecodable_cached_subject_is_dropped() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let cache = RedisSubjectCache::new(redis.pool().clone(), redis.prefix());
        let user_id = Uuid::new_v4();
        let key = format!("{}rbac:subject:{user_id}", redis.prefix());
        for garbage in ["not json", r#"{"user_id":42}"#, ""] {
            let () = query(
                &redis,
                redis::cmd("SET").arg(&key).arg(garbage).arg("EX").arg(60),
            )
            .await;
            assert_eq!(cache.get(user_id).await.unwrap(), None, "{garbage:?}");
            let exists: i64 = query(&redis, redis::cmd("EXISTS").arg(&key)).await;
            assert_eq!(exists, 0, "{garbage:?} was deleted");
        }
        redis.cleanup().await;
    }

    /// Two instances listening on one prefix both receive what either publishes, in
    /// about no time; a listener on another prefix receives nothing.
    #[tokio::test]
    async fn every_listener_on_the_prefix_receives() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let url = server_url();
        let (a, mut a_rx) = subscribed(&url, redis.prefix()).await;
        let (b, mut b_rx) = subscribed(&url, redis.prefix()).await;
        let other_prefix = format!("{}other:", redis.prefix());
        let (c, mut c_rx) = subscribed(&url, &other_prefix).await;

        let bus = RedisInvalidationBus::new(redis.pool().clone(), redis.prefix());
        let user_id = Uuid::new_v4();
        for message in [
            Invalidation::User { user_id },
            Invalidation::Policy,
            Invalidation::Scopes,
        ] {
            bus.publish(message).await.unwrap();
            for rx in [&mut a_rx, &mut b_rx] {
                let got = next(rx, Duration::from_secs(1), "invalidation").await;
                assert_eq!(got, Seen::Message(message));
            }
        }
        nothing_more(&mut c_rx, Duration::from_millis(200)).await;

        for listener in [a, b, c] {
            listener.stop().await;
        }
        assert_eq!(
            a_rx.recv().await,
            Some(Seen::Healthy(false)),
            "stop reports false"
        );
        assert_eq!(a_rx.recv().await, None, "and nothing after");
        redis.cleanup().await;
    }

    /// A message that does not decode is skipped; the feed stays up and the next one
    /// arrives.
    #[tokio::test]
    async fn undecodable_messages_are_skipped() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let (listener, mut rx) = subscribed(&server_url(), redis.prefix()).await;
        let channel = invalidation_channel(redis.prefix());
        for garbage in ["not json", r#"{"kind":"everything"}"#, r#"{"kind":"user"}"#] {
            let receivers: i64 =
                query(&redis, redis::cmd("PUBLISH").arg(&channel).arg(garbage)).await;
            assert_eq!(receivers, 1);
        }
        let bus = RedisInvalidationBus::new(redis.pool().clone(), redis.prefix());
        bus.publish(Invalidation::Scopes).await.unwrap();
        assert_eq!(
            next(&mut rx, Duration::from_secs(1), "invalidation").await,
            Seen::Message(Invalidation::Scopes)
        );
        listener.stop().await;
        redis.cleanup().await;
    }

    /// A killed connection is reported (`false`), replaced after a short backoff, and
    /// reported again (`true`) once the new subscription is confirmed; messages then flow
    /// again.
    #[tokio::test]
    async fn killed_connection_is_reported_and_replaced() {
        let Some(redis) = TestRedis::create().await else {
            return;
        };
        let user = ListenerUser::create(&redis).await;
        let (listener, mut rx) = subscribed(&user.url, redis.prefix()).await;
        let bus = RedisInvalidationBus::new(redis.pool().clone(), redis.prefix());

        for round in 0..2 {
            assert_eq!(user.kill_subscribers(&redis).await, 1, "round {round}");
            assert_eq!(
                next(&mut rx, Duration::from_secs(1), "loss report").await,
                Seen::Healthy(false)
            );
            assert_eq!(
                next(&mut rx, Duration::from_secs(3), "resubscription").await,
                Seen::Healthy(true)
            );
            let user_id = Uuid::new_v4();
            bus.publish(Invalidation::User { user_id }).await.unwrap();
            assert_eq!(
                next(
                    &mut rx,
                    Duration::from_secs(1),
                    "invalidation after resubscribing"
                )
                .await,
                Seen::Message(Invalidation::User { user_id })
            );
        }

        listener.stop().await;
        drop(user);
        redis.cleanup().await;
    }

    /// With no server the listener says the feed is down and keeps trying; a malformed
    /// URL is refused up front.
    #[tokio::test]
    async fn unreachable_server_means_an_unhealthy_feed() {
        let (sink, mut rx) = recorder();
        let listener = InvalidationListener::spawn("redis://127.0.0.1:1", "p:", sink).unwrap();
        assert_eq!(
            next(&mut rx, Duration::from_secs(1), "first report").await,
            Seen::Healthy(false)
        );
        nothing_more(&mut rx, Duration::from_millis(800)).await;
        assert!(!listener.is_finished(), "still retrying");
        listener.stop().await;
        assert_eq!(rx.recv().await, None, "already reported down; nothing more");

        let (sink, _rx) = recorder();
        assert!(InvalidationListener::spawn("not a url", "p:", sink).is_err());
    }
}

async fn subscribers(redis: &TestRedis, channel: &str) -> i64 {
    let mut conn = redis.pool().get().await.unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut *conn)
        .await
        .unwrap();
    n
}

/// Topic frames reach the subscribers of their topic only, on one multiplexed connection
/// per bus, and a topic is unsubscribed when its last subscription is dropped.
#[tokio::test]
async fn topic_bus_fans_out_per_topic() {
    use adapter_redis::{RedisTopicBus, topic_channel};
    use domain_core::TopicBus;
    use std::sync::Arc;

    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let prefix = redis.prefix().to_owned();
    let receiver = RedisTopicBus::new(redis.pool().clone(), redis.url(), prefix.clone()).unwrap();
    let sender = RedisTopicBus::new(redis.pool().clone(), redis.url(), prefix.clone()).unwrap();
    let (room1, room2) = (
        format!("debate:{}", Uuid::new_v4()),
        format!("user:{}", Uuid::new_v4()),
    );
    let (room1, room2) = (room1.as_str(), room2.as_str());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u8, String)>();
    let (t1, t2) = (tx.clone(), tx);
    let sub1 = receiver
        .subscribe(room1, Arc::new(move |p| drop(t1.send((1, p)))))
        .await
        .unwrap();
    let sub2 = receiver
        .subscribe(room2, Arc::new(move |p| drop(t2.send((2, p)))))
        .await
        .unwrap();
    assert_eq!(subscribers(&redis, &topic_channel(&prefix, room1)).await, 1);
    assert_eq!(subscribers(&redis, &topic_channel(&prefix, room2)).await, 1);

    sender.publish(room1, "a".into()).await.unwrap();
    sender.publish(room2, "b".into()).await.unwrap();
    sender.publish(room1, "c".into()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("delivered in time")
            .unwrap();
        got.push(next);
    }
    assert_eq!(
        got,
        vec![
            (1, "a".to_owned()),
            (2, "b".to_owned()),
            (1, "c".to_owned())
        ]
    );

    drop(sub1);
    let started = Instant::now();
    while subscribers(&redis, &topic_channel(&prefix, room1)).await != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "room 1 still subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(subscribers(&redis, &topic_channel(&prefix, room2)).await, 1);
    drop(sub2);
    redis.cleanup().await;
}

/// Unread counts live at `{prefix}notif:unread:{user}`; `set` starts their expiry and
/// increments and decrements keep it, so even an active user's count is re-read from the
/// store once per period.
#[tokio::test]
async fn unread_counts_are_prefixed_and_expire_from_set() {
    use adapter_redis::{RedisUnreadCounter, UNREAD_TTL};
    use domain_notifications::UnreadCounter;
    let Some(redis) = TestRedis::create().await else {
        return;
    };
    let prefix = redis.prefix().to_owned();
    let user = Uuid::new_v4();
    let counter = RedisUnreadCounter::new(redis.pool().clone(), prefix.clone());
    counter.set(user, 2).await.unwrap();
    let key = format!("{prefix}notif:unread:{user}");
    assert_eq!(
        keys_with_prefix(redis.pool(), &prefix).await.unwrap(),
        vec![key.clone()]
    );
    let ttl = pttl(&redis, &key).await;
    let full = i64::try_from(UNREAD_TTL.as_millis()).unwrap();
    assert!(ttl > full - 5_000 && ttl <= full, "{ttl}");

    // Shorten the expiry, then update: it is not pushed back.
    let mut conn = redis.pool().get().await.unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(5_000)
        .query_async(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(counter.incr(user).await.unwrap(), Some(3));
    assert_eq!(counter.decr(user).await.unwrap(), Some(2));
    let ttl = pttl(&redis, &key).await;
    assert!(ttl > 0 && ttl <= 5_000, "{ttl}");

    // A configured period applies to the next set.
    let short = counter.with_ttl(Duration::from_secs(60));
    short.set(user, 1).await.unwrap();
    let ttl = pttl(&redis, &key).await;
    assert!(ttl > 55_000 && ttl <= 60_000, "{ttl}");
    redis.cleanup().await;
}
