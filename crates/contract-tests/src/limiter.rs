//! Contract of [`AttemptLimiter`].

use chrono::Duration;
use domain_core::Clock;
use domain_identity::AttemptLimiter;

use crate::{clock, tag};

/// A unique key, so contracts never share counters.
fn key(name: &str) -> String {
    format!("login:{name}:{}", tag())
}

/// Failures are counted per key; a key is blocked once it has `max_failures` in its
/// window, with the seconds left in that window.
pub async fn counts_and_blocks(limiter: &dyn AttemptLimiter) {
    let now = clock().now();
    let (alice, bob) = (key("alice"), key("bob"));
    assert_eq!(
        limiter.blocked_for(&alice, 3, now).await.unwrap(),
        None,
        "no failures"
    );
    assert_eq!(
        limiter.blocked_for(&alice, 0, now).await.unwrap(),
        None,
        "no window"
    );

    for expected in 1..=3 {
        assert_eq!(
            limiter.record_failure(&alice, 60, now).await.unwrap(),
            expected
        );
    }
    assert_eq!(limiter.blocked_for(&alice, 3, now).await.unwrap(), Some(60));
    assert_eq!(
        limiter.blocked_for(&alice, 2, now).await.unwrap(),
        Some(60),
        "over the limit"
    );
    assert_eq!(
        limiter.blocked_for(&alice, 4, now).await.unwrap(),
        None,
        "under the limit"
    );

    assert_eq!(
        limiter.blocked_for(&bob, 1, now).await.unwrap(),
        None,
        "keys are separate"
    );
    assert_eq!(limiter.record_failure(&bob, 60, now).await.unwrap(), 1);
    assert_eq!(limiter.record_failure(&alice, 60, now).await.unwrap(), 4);
}

/// A window opens at the first failure, is not extended by later ones, and ends
/// `window_secs` later; the next failure opens a new one. The wait is rounded up to
/// whole seconds and never 0 while blocked.
pub async fn windows_start_at_first_failure(limiter: &dyn AttemptLimiter) {
    let clock = clock();
    let start = clock.now();
    let k = key("window");
    assert_eq!(limiter.record_failure(&k, 60, start).await.unwrap(), 1);
    clock.advance(Duration::seconds(40));
    assert_eq!(
        limiter.record_failure(&k, 60, clock.now()).await.unwrap(),
        2
    );
    assert_eq!(
        limiter.blocked_for(&k, 2, clock.now()).await.unwrap(),
        Some(20),
        "the window still ends 60 s after the first failure"
    );
    let almost = start + Duration::milliseconds(59_500);
    assert_eq!(
        limiter.blocked_for(&k, 2, almost).await.unwrap(),
        Some(1),
        "rounded up"
    );
    let end = start + Duration::seconds(60);
    assert_eq!(
        limiter.blocked_for(&k, 2, end).await.unwrap(),
        None,
        "window over"
    );
    assert_eq!(limiter.blocked_for(&k, 1, end).await.unwrap(), None);

    assert_eq!(
        limiter.record_failure(&k, 60, end).await.unwrap(),
        1,
        "a new window"
    );
    let later = end + Duration::seconds(10);
    assert_eq!(limiter.record_failure(&k, 60, later).await.unwrap(), 2);
    assert_eq!(limiter.blocked_for(&k, 2, later).await.unwrap(), Some(50));
    assert_eq!(
        limiter
            .blocked_for(&k, 2, end + Duration::seconds(60))
            .await
            .unwrap(),
        None
    );
}

/// `reset` forgets a key's failures (and only that key's).
pub async fn reset_forgets(limiter: &dyn AttemptLimiter) {
    let now = clock().now();
    let (k, other) = (key("reset"), key("kept"));
    for _ in 0..5 {
        limiter.record_failure(&k, 900, now).await.unwrap();
        limiter.record_failure(&other, 900, now).await.unwrap();
    }
    assert!(limiter.blocked_for(&k, 5, now).await.unwrap().is_some());
    limiter.reset(&k).await.unwrap();
    assert_eq!(limiter.blocked_for(&k, 1, now).await.unwrap(), None);
    assert_eq!(
        limiter.record_failure(&k, 900, now).await.unwrap(),
        1,
        "counting restarts"
    );
    assert_eq!(
        limiter.blocked_for(&other, 5, now).await.unwrap(),
        Some(900)
    );
    limiter.reset(&key("never-seen")).await.unwrap();
}

/// Concurrent failures are all counted.
pub async fn concurrent_failures_all_count(limiter: &dyn AttemptLimiter) {
    let now = clock().now();
    let k = key("burst");
    let counts =
        futures_util::future::join_all((0..20).map(|_| limiter.record_failure(&k, 60, now))).await;
    let mut counts: Vec<u32> = counts.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<u32>>(),
        "each failure saw its own count"
    );
    assert_eq!(limiter.blocked_for(&k, 20, now).await.unwrap(), Some(60));
}

/// A lock refuses its key for its time whatever limit is asked about, replacing the
/// key's window (longer or shorter); failures counted meanwhile keep it locked without
/// overflowing; once it ends the next failure opens a fresh window. `reset` lifts it.
pub async fn locks_refuse_until_they_end(limiter: &dyn AttemptLimiter) {
    let clock = clock();
    let start = clock.now();
    let (k, other) = (key("locked"), key("neighbour"));
    limiter.record_failure(&k, 900, start).await.unwrap();
    limiter.lock(&k, 120, start).await.unwrap();
    for max in [1, 5, u32::MAX] {
        assert_eq!(
            limiter.blocked_for(&k, max, start).await.unwrap(),
            Some(120),
            "locked for any limit ({max})"
        );
    }
    assert_eq!(limiter.blocked_for(&other, 1, start).await.unwrap(), None);

    clock.advance(Duration::seconds(30));
    for _ in 0..3 {
        assert_eq!(
            limiter.record_failure(&k, 900, clock.now()).await.unwrap(),
            u32::MAX,
            "a locked key counts as over every limit"
        );
    }
    assert_eq!(
        limiter
            .blocked_for(&k, u32::MAX, clock.now())
            .await
            .unwrap(),
        Some(90),
        "failures during a lock do not extend it"
    );

    let end = start + Duration::seconds(120);
    assert_eq!(limiter.blocked_for(&k, 1, end).await.unwrap(), None, "over");
    assert_eq!(
        limiter.record_failure(&k, 900, end).await.unwrap(),
        1,
        "a fresh window after the lock"
    );

    // a shorter lock replaces a longer window
    limiter.lock(&k, 10, end).await.unwrap();
    assert_eq!(limiter.blocked_for(&k, 1, end).await.unwrap(), Some(10));
    limiter.reset(&k).await.unwrap();
    assert_eq!(
        limiter.blocked_for(&k, 1, end).await.unwrap(),
        None,
        "reset lifts a lock"
    );
}
