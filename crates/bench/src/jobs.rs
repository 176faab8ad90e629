//! Throughput of the durable job queue (enqueue → claimed → run → done, with the real
//! `Worker` runtime) and of notification fan-out (one `NotificationService::notify` per
//! user: preference lookup, idempotent insert, unread counter), on both storage modes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain_core::{Clock, NullEventPublisher, SystemClock};
use domain_jobs::{Job, JobError, JobHandler, JobQueue, NewJob, Worker, WorkerConfig};
use domain_notifications::{NotificationKind, NotificationService};
use uuid::Uuid;

/// Counts the jobs it ran.
struct Noop(Arc<AtomicU64>);

#[async_trait]
impl JobHandler for Noop {
    async fn handle(&self, _: &Job) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn rate(n: u64, took: Duration) -> String {
    format!("{:.0}/s", n as f64 / took.as_secs_f64())
}

/// Enqueues `n` jobs, then runs `workers` workers (each `concurrency` jobs at a time)
/// until every job is done; prints enqueue rate and end-to-end rate.
pub async fn job_throughput(
    label: &str,
    queue: Arc<dyn JobQueue>,
    n: u64,
    workers: usize,
    concurrency: u32,
) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kind = format!("bench.noop.{}", Uuid::new_v4().simple());
    let started = Instant::now();
    for i in 0..n {
        queue
            .enqueue(
                NewJob::new(kind.clone(), serde_json::json!({ "i": i })),
                clock.now(),
            )
            .await
            .expect("enqueue");
    }
    let enqueued = started.elapsed();
    let ran = Arc::new(AtomicU64::new(0));
    let handlers: HashMap<String, Arc<dyn JobHandler>> = HashMap::from([(
        kind.clone(),
        Arc::new(Noop(ran.clone())) as Arc<dyn JobHandler>,
    )]);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = Vec::new();
    let run_started = Instant::now();
    for w in 0..workers {
        let mut config = WorkerConfig::new(format!("bench-{w}-{}", Uuid::new_v4().simple()));
        config.concurrency = concurrency;
        config.poll_every = Duration::from_millis(5);
        let worker = Worker::new(queue.clone(), handlers.clone(), clock.clone(), config);
        let stopped = stopped.clone();
        running.push(tokio::spawn(async move { worker.run(stopped).await }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while ran.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = run_started.elapsed();
    let _ = stop.send(true);
    for r in running {
        let _ = r.await;
    }
    let done = ran.load(Ordering::Relaxed);
    println!(
        "| {label} | enqueue {n} jobs (one at a time) | {} ({:.2} ms each) |",
        rate(n, enqueued),
        enqueued.as_secs_f64() * 1e3 / n as f64
    );
    println!(
        "| {label} | run them: {workers} workers × {concurrency} at a time, no-op handler | {} ({done} done in {:.2} s) |",
        rate(done, drained),
        drained.as_secs_f64()
    );
    println!(
        "| {label} | enqueue → done, whole batch | {} |",
        rate(done, enqueued + drained)
    );
}

/// Notifies each of `users` once (16 at a time) and prints the rate.
pub async fn notification_fanout(label: &str, service: NotificationService, users: &[Uuid]) {
    let started = Instant::now();
    let key = Uuid::new_v4().simple().to_string();
    let mut pending = tokio::task::JoinSet::new();
    for chunk in users.chunks(users.len().div_ceil(16).max(1)) {
        let service = service.clone();
        let chunk = chunk.to_vec();
        let key = key.clone();
        pending.spawn(async move {
            for user in chunk {
                service
                    .notify(
                        user,
                        NotificationKind::DebateScheduled,
                        "A new debate: Homework should be banned",
                        "Starts Monday at 10:00.",
                        Some("/api/debates/sessions/00000000-0000-0000-0000-000000000000/"),
                        &format!("bench-{key}"),
                    )
                    .await
                    .expect("notify");
            }
        });
    }
    while pending.join_next().await.is_some() {}
    let took = started.elapsed();
    println!(
        "| {label} | notify {} users (16 at a time; store + unread counter) | {} ({:.2} ms each) |",
        users.len(),
        rate(users.len() as u64, took),
        took.as_secs_f64() * 1e3 / users.len() as f64
    );
    // the badge every one of them now reads: first unknown to the counter (counted in the
    // store, then cached), then served by the counter
    for pass in [
        "first read (counted in the store, then cached)",
        "next read (the counter)",
    ] {
        let started = Instant::now();
        for user in users {
            service.unread_count(*user).await.expect("count");
        }
        let took = started.elapsed();
        println!(
            "| {label} | unread count, {pass}, one user at a time | {:.1} µs each |",
            took.as_secs_f64() * 1e6 / users.len() as f64
        );
    }
}

/// A notification service without events (the benchmark measures storage).
pub fn service(
    store: Arc<dyn domain_notifications::NotificationStore>,
    preferences: Arc<dyn domain_notifications::PreferenceStore>,
    counter: Arc<dyn domain_notifications::UnreadCounter>,
) -> NotificationService {
    NotificationService::new(
        store,
        preferences,
        counter,
        Arc::new(SystemClock),
        Arc::new(NullEventPublisher),
    )
}
