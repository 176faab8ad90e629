//! Contract of [`RateLimiter`]: a user's send budget, the same for every caller of every
//! instance over one store.

use std::time::Duration as StdDuration;

use chrono::Duration;
use domain_core::{Clock, Rate, RateDecision, RateLimiter};

use crate::{clock, tag};

/// A student's default send rate on the server: 5 per second, bursts of 10.
const STUDENT: Rate = Rate {
    per_second: 5.0,
    burst: 10,
};

/// A key of its own for one contract run, shaped like the server's (user and session).
fn key() -> String {
    format!("user-{}:session-{}", tag(), tag())
}

fn limited(ms: u64) -> RateDecision {
    RateDecision::Limited {
        retry_after: StdDuration::from_millis(ms),
    }
}

/// The burst passes at once; the next call is refused with the exact wait until the
/// next unit, and is allowed once that wait has passed — not a microsecond before.
pub async fn burst_then_refusal_with_exact_retry_after(limiter: &dyn RateLimiter) {
    let clock = clock();
    let now = clock.now();
    let key = key();
    for i in 0..10 {
        let d = limiter.acquire(&key, STUDENT, now).await.unwrap();
        assert_eq!(d, RateDecision::Allowed, "unit {i} of the burst");
    }
    // 5/s: one unit every 200 ms; refusals take nothing, so the wait stays the same
    for _ in 0..3 {
        assert_eq!(
            limiter.acquire(&key, STUDENT, now).await.unwrap(),
            limited(200)
        );
    }
    let early = now + Duration::microseconds(199_999);
    assert_eq!(
        limiter.acquire(&key, STUDENT, early).await.unwrap(),
        RateDecision::Limited {
            retry_after: StdDuration::from_micros(1)
        }
    );
    let on_time = now + Duration::milliseconds(200);
    assert_eq!(
        limiter.acquire(&key, STUDENT, on_time).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        limiter.acquire(&key, STUDENT, on_time).await.unwrap(),
        limited(200)
    );
}

/// How many calls in a row `limiter` allows for `key` at `now`.
async fn allowed_at(
    limiter: &dyn RateLimiter,
    key: &str,
    rate: Rate,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut n = 0;
    while limiter.acquire(key, rate, now).await.unwrap().is_allowed() {
        n += 1;
        assert!(n <= 100, "never refused");
    }
    n
}

/// Time gives the budget back at the sustained rate, and a long pause gives back the
/// burst and no more.
pub async fn budget_refills_with_time(limiter: &dyn RateLimiter) {
    let clock = clock();
    let key = key();
    let rate = Rate::new(2.0, 4);
    assert_eq!(
        allowed_at(limiter, &key, rate, clock.now()).await,
        4,
        "the burst"
    );
    clock.advance(Duration::seconds(1));
    assert_eq!(
        allowed_at(limiter, &key, rate, clock.now()).await,
        2,
        "one second at 2/s"
    );
    clock.advance(Duration::milliseconds(1_500));
    assert_eq!(
        allowed_at(limiter, &key, rate, clock.now()).await,
        3,
        "1.5 s at 2/s"
    );
    clock.advance(Duration::hours(1));
    assert_eq!(
        allowed_at(limiter, &key, rate, clock.now()).await,
        4,
        "an hour: the burst, no more"
    );
}

/// One key's spending leaves every other key's budget whole, even a key that differs
/// only in its session part.
pub async fn separate_keys_are_independent(limiter: &dyn RateLimiter) {
    let now = clock().now();
    let rate = Rate::new(1.0, 2);
    let user = tag();
    let (a, b) = (format!("{user}:one"), format!("{user}:two"));
    for _ in 0..2 {
        assert!(limiter.acquire(&a, rate, now).await.unwrap().is_allowed());
    }
    assert!(!limiter.acquire(&a, rate, now).await.unwrap().is_allowed());
    for _ in 0..2 {
        assert!(
            limiter.acquire(&b, rate, now).await.unwrap().is_allowed(),
            "{b} untouched by {a}"
        );
    }
    assert!(!limiter.acquire(&b, rate, now).await.unwrap().is_allowed());
}

/// Two limiter objects over the same store (two server instances) draw on one budget:
/// what one allowed, the other does not allow again.
pub async fn two_limiters_share_one_budget(first: &dyn RateLimiter, second: &dyn RateLimiter) {
    let now = clock().now();
    let key = key();
    let mut allowed = 0;
    for i in 0..20 {
        let limiter = if i % 2 == 0 { first } else { second };
        if limiter
            .acquire(&key, STUDENT, now)
            .await
            .unwrap()
            .is_allowed()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "one burst between both, not one each");
    let later = now + Duration::milliseconds(200);
    assert!(
        first
            .acquire(&key, STUDENT, later)
            .await
            .unwrap()
            .is_allowed()
    );
    assert_eq!(
        second.acquire(&key, STUDENT, later).await.unwrap(),
        limited(200),
        "the unit the first one took is gone for the second"
    );
}

/// Concurrent calls are applied one after the other: 50 at once on a burst of 10 at the
/// same instant allow exactly 10.
pub async fn concurrent_acquires_allow_exactly_the_burst(limiter: &dyn RateLimiter) {
    let now = clock().now();
    let key = key();
    let decisions =
        futures_util::future::join_all((0..50).map(|_| limiter.acquire(&key, STUDENT, now))).await;
    let allowed = decisions
        .into_iter()
        .filter(|d| d.as_ref().unwrap().is_allowed())
        .count();
    assert_eq!(allowed, 10);
}

/// A caller whose clock is behind another's gets no budget back from the difference,
/// and nothing fails.
pub async fn a_clock_behind_gives_no_extra_budget(limiter: &dyn RateLimiter) {
    let now = clock().now();
    let key = key();
    let rate = Rate::new(1.0, 1);
    assert!(limiter.acquire(&key, rate, now).await.unwrap().is_allowed());
    let behind = now - Duration::seconds(30);
    assert_eq!(
        limiter.acquire(&key, rate, behind).await.unwrap(),
        RateDecision::Limited {
            retry_after: StdDuration::from_secs(31)
        },
        "the wait counts from the caller's own instant"
    );
    assert!(!limiter.acquire(&key, rate, now).await.unwrap().is_allowed());
}
