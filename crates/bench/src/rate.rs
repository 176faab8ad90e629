//! Throughput of the shared send-rate limiter: `acquire` calls per second from concurrent
//! callers spread over many keys (users in sessions), in process memory and in Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain_core::{Clock, Rate, RateLimiter, SystemClock};

/// Calls per run.
const CALLS: usize = 100_000;
/// Distinct keys the calls are spread over.
const KEYS: usize = 1_000;

fn rate(calls: usize, took: Duration) -> String {
    format!("{:.0} acquires/s", calls as f64 / took.as_secs_f64())
}

/// `CALLS` acquisitions from `concurrency` tasks over `KEYS` keys at a student's rate
/// (5/s, bursts of 10), so most are refused after the first bursts, as in a flood.
pub async fn throughput(label: &str, limiter: Arc<dyn RateLimiter>, concurrency: usize) {
    let rate_of_student = Rate::new(5.0, 10);
    let per_task = CALLS / concurrency;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let (mut allowed, mut failed) = (0usize, 0usize);
                for i in 0..per_task {
                    // the time moves as in production, read through the clock port
                    let now = SystemClock.now();
                    let key = format!("user-{}:session", (t * per_task + i) % KEYS);
                    match limiter.acquire(&key, rate_of_student, now).await {
                        Ok(d) if d.is_allowed() => allowed += 1,
                        Ok(_) => {}
                        // counted, not fatal: more callers than pooled connections on a
                        // loaded machine can time out waiting for one, and that is
                        // worth seeing in the numbers
                        Err(_) => failed += 1,
                    }
                }
                (allowed, failed)
            })
        })
        .collect();
    let (mut allowed, mut failed) = (0, 0);
    for task in tasks {
        let (a, f) = task.await.unwrap();
        allowed += a;
        failed += f;
    }
    let took = start.elapsed();
    let calls = per_task * concurrency;
    println!(
        "| {label} | rate limiter, {concurrency} concurrent callers, {KEYS} keys | {} ({allowed} of {calls} allowed, {failed} failed) |",
        rate(calls, took)
    );
}
