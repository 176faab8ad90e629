//! Contract of [`JobQueue`], and of the [`Worker`] runtime running on it.
//!
//! Unlike the other contracts these need a queue of their own: a claim takes any due
//! job, so a job left by another test would be claimed too. Each test gets a fresh
//! queue (a new memory adapter, a new database).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, ManualClock, SystemClock};
use domain_jobs::{
    Backoff, Job, JobCounts, JobError, JobHandler, JobQueue, JobStatus, NewJob, Periodic, Worker,
    WorkerConfig,
};
use serde_json::json;
use uuid::Uuid;

use crate::{clock, tag};

fn lease() -> TimeDelta {
    TimeDelta::seconds(30)
}

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, json!({ "tag": tag() }))
}

async fn enqueue(q: &dyn JobQueue, job: NewJob, now: DateTime<Utc>) -> Uuid {
    let e = q.enqueue(job, now).await.unwrap();
    assert!(e.fresh);
    e.id
}

async fn get(q: &dyn JobQueue, id: Uuid) -> Job {
    q.get(id).await.unwrap().expect("the job exists")
}

/// A job is stored queued, claimed once under a lease, and completed only by its worker.
pub async fn enqueue_claim_complete(q: &dyn JobQueue) {
    let now = clock().now();
    let payload = json!({ "to": "someone@example.org", "n": [1, 2, 3] });
    let id = enqueue(
        q,
        NewJob::new("email.send", payload.clone()).max_attempts(3),
        now,
    )
    .await;
    let stored = get(q, id).await;
    assert_eq!(stored.kind, "email.send");
    assert_eq!(stored.payload, payload);
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!((stored.attempts, stored.max_attempts), (0, 3));
    assert_eq!(stored.run_at, now);
    assert_eq!((stored.created_at, stored.updated_at), (now, now));
    assert_eq!(stored.locked_by, None);
    assert_eq!(stored.locked_until, None);
    assert_eq!(stored.dedupe_key, None);
    assert_eq!(q.get(Uuid::new_v4()).await.unwrap(), None);

    let claimed = q.claim("w1", now, lease(), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(c.id, id);
    assert_eq!(c.status, JobStatus::Running);
    assert_eq!(c.attempts, 1);
    assert_eq!(c.locked_by.as_deref(), Some("w1"));
    assert_eq!(c.locked_until, Some(now + lease()));
    assert_eq!(c.payload, payload);
    assert_eq!(get(q, id).await, *c);
    assert!(q.claim("w2", now, lease(), 10).await.unwrap().is_empty());
    assert!(q.claim("w1", now, lease(), 0).await.unwrap().is_empty());

    let later = now + TimeDelta::seconds(1);
    assert!(!q.complete(id, "w2", later).await.unwrap());
    assert!(q.complete(id, "w1", later).await.unwrap());
    let done = get(q, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.locked_until, None);
    assert_eq!(done.updated_at, later);
    assert!(!q.complete(id, "w1", later).await.unwrap());
    assert!(q.claim("w1", later, lease(), 10).await.unwrap().is_empty());
    assert!(!q.complete(Uuid::new_v4(), "w1", later).await.unwrap());
}

/// A scheduled job is not claimed before its `run_at`; due jobs are claimed oldest
/// `run_at` first, at most `limit` at a time.
pub async fn not_claimed_before_run_at(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let later = enqueue(q, job("k").run_at(at(60)), now).await;
    let second = enqueue(q, job("k").run_at(at(-5)), now).await;
    let first = enqueue(q, job("k").run_at(at(-10)), now).await;
    let third = enqueue(q, job("k"), now).await;
    assert_eq!(get(q, later).await.run_at, at(60));

    // Long leases: the jobs claimed first must not come back within the minute.
    let lease = || TimeDelta::hours(2);
    let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(q.claim("w", now, lease(), 2).await.unwrap()),
        vec![first, second]
    );
    assert_eq!(
        ids(q.claim("w", now, lease(), 10).await.unwrap()),
        vec![third]
    );
    assert!(q.claim("w", at(59), lease(), 10).await.unwrap().is_empty());
    assert_eq!(
        ids(q.claim("w", at(60), lease(), 10).await.unwrap()),
        vec![later]
    );
}

/// A dedupe key stores one job, whatever its status, until the job is purged.
pub async fn dedupe_keys_store_one_job(q: &dyn JobQueue) {
    let now = clock().now();
    let key = format!("digest@{}", tag());
    let first = q
        .enqueue(job("digest").dedupe_key(key.clone()), now)
        .await
        .unwrap();
    assert!(first.fresh);
    let again = q
        .enqueue(job("digest").dedupe_key(key.clone()), now)
        .await
        .unwrap();
    assert_eq!((again.id, again.fresh), (first.id, false));
    assert_eq!(get(q, first.id).await.dedupe_key.as_deref(), Some(&*key));
    let other = q
        .enqueue(job("digest").dedupe_key(format!("{key}-2")), now)
        .await
        .unwrap();
    assert!(other.fresh);
    assert_ne!(other.id, first.id);
    // Jobs without a key never clash.
    let a = enqueue(q, job("k"), now).await;
    let b = enqueue(q, job("k"), now).await;
    assert_ne!(a, b);

    // Still one job while it runs and once it is done.
    let claimed = q.claim("w", now, lease(), 10).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let again = q
        .enqueue(job("digest").dedupe_key(key.clone()), now)
        .await
        .unwrap();
    assert_eq!((again.id, again.fresh), (first.id, false));
    assert!(q.complete(first.id, "w", now).await.unwrap());
    let again = q
        .enqueue(job("digest").dedupe_key(key.clone()), now)
        .await
        .unwrap();
    assert_eq!((again.id, again.fresh), (first.id, false));

    // Purging the done job releases its key.
    let later = now + TimeDelta::seconds(1);
    assert_eq!(q.purge_done(later).await.unwrap(), 1);
    let fresh = q
        .enqueue(job("digest").dedupe_key(key.clone()), later)
        .await
        .unwrap();
    assert!(fresh.fresh);
    assert_ne!(fresh.id, first.id);
}

/// A lease that expires (the worker died) lets another worker claim the job; the first
/// worker can then no longer complete, fail or extend it.
pub async fn expired_lease_is_claimed_again(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let id = enqueue(q, job("k"), now).await;
    assert_eq!(q.claim("w1", now, lease(), 1).await.unwrap().len(), 1);
    // The lease ends at 30 s: held until then (inclusive), free after.
    assert!(q.claim("w2", at(29), lease(), 1).await.unwrap().is_empty());
    assert!(q.claim("w2", at(30), lease(), 1).await.unwrap().is_empty());
    let taken = q.claim("w2", at(31), lease(), 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, id);
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(taken[0].locked_by.as_deref(), Some("w2"));
    assert_eq!(taken[0].locked_until, Some(at(61)));

    assert!(!q.complete(id, "w1", at(32)).await.unwrap());
    assert!(!q.fail(id, "w1", "late", None, at(32)).await.unwrap());
    assert!(!q.extend(id, "w1", at(100)).await.unwrap());
    assert_eq!(get(q, id).await.status, JobStatus::Running);
    assert!(q.complete(id, "w2", at(33)).await.unwrap());
    assert_eq!(get(q, id).await.status, JobStatus::Done);
}

/// `extend` moves the lease of the worker holding the job.
pub async fn extend_keeps_the_lease(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let id = enqueue(q, job("k"), now).await;
    q.claim("w1", now, lease(), 1).await.unwrap();
    assert!(q.extend(id, "w1", at(120)).await.unwrap());
    assert_eq!(get(q, id).await.locked_until, Some(at(120)));
    assert!(!q.extend(id, "w2", at(500)).await.unwrap());
    assert!(q.claim("w2", at(119), lease(), 1).await.unwrap().is_empty());
    assert_eq!(q.claim("w2", at(121), lease(), 1).await.unwrap().len(), 1);
    assert!(!q.extend(Uuid::new_v4(), "w1", at(1)).await.unwrap());
}

/// A failure with a retry time puts the job back in the queue, not claimable before it.
pub async fn failure_retries_at_retry_at(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let id = enqueue(q, job("k"), now).await;
    q.claim("w1", now, lease(), 1).await.unwrap();
    assert!(!q.fail(id, "w2", "boom", Some(at(10)), at(1)).await.unwrap());
    assert!(q.fail(id, "w1", "boom", Some(at(10)), at(1)).await.unwrap());
    let failed = get(q, id).await;
    assert_eq!(failed.status, JobStatus::Queued);
    assert_eq!(failed.run_at, at(10));
    assert_eq!(failed.last_error.as_deref(), Some("boom"));
    assert_eq!(failed.locked_until, None);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.updated_at, at(1));
    // Not running any more: a second report changes nothing.
    assert!(!q.fail(id, "w1", "again", None, at(1)).await.unwrap());

    assert!(q.claim("w2", at(9), lease(), 1).await.unwrap().is_empty());
    let again = q.claim("w2", at(10), lease(), 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("boom"));
}

/// A failure without a retry time buries the job; `retry` brings a dead job (and only a
/// dead one) back with its attempts reset.
pub async fn dead_jobs_wait_for_retry(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let id = enqueue(q, job("k").max_attempts(2), now).await;
    let queued = enqueue(q, job("k").run_at(at(3600)), now).await;
    q.claim("w1", now, lease(), 10).await.unwrap();
    assert!(!q.retry(id, at(1)).await.unwrap(), "running is not dead");
    assert!(q.fail(id, "w1", "gave up", None, at(1)).await.unwrap());
    let dead = get(q, id).await;
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("gave up"));
    assert_eq!(dead.locked_until, None);
    // Only the scheduled job is claimed; the dead one stays put.
    let claimed = q.claim("w1", at(7200), lease(), 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![queued]
    );
    assert_eq!(get(q, id).await.status, JobStatus::Dead);
    assert!(
        !q.retry(queued, at(2)).await.unwrap(),
        "running is not dead"
    );
    assert!(!q.retry(Uuid::new_v4(), at(2)).await.unwrap());

    assert!(q.retry(id, at(2)).await.unwrap());
    let back = get(q, id).await;
    assert_eq!(back.status, JobStatus::Queued);
    assert_eq!(back.attempts, 0);
    assert_eq!(back.run_at, at(2));
    assert_eq!(back.updated_at, at(2));
    assert!(!q.retry(id, at(2)).await.unwrap());
    let claimed = q.claim("w2", at(2), lease(), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].id, claimed[0].attempts), (id, 1));
}

/// Counts per status (with the scheduled and stalled subsets), and the list newest first
/// in keyset pages, overall and per status.
pub async fn counts_and_list_pages(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    assert_eq!(q.counts(now).await.unwrap(), JobCounts::default());
    assert!(q.list(None, None, 10).await.unwrap().is_empty());
    // Seven jobs, one a second, so the newest-first order is known.
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(enqueue(q, job("k").run_at(at(i)), at(i)).await);
    }
    // At 10 s: claim the oldest three (ids 0, 1, 2); finish 0, bury 1, keep 2 running;
    // 3 is scheduled for later.
    let ten = at(10);
    let claimed = q.claim("w", ten, lease(), 3).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), ids[..3]);
    assert!(q.complete(ids[0], "w", ten).await.unwrap());
    assert!(q.fail(ids[1], "w", "x", None, ten).await.unwrap());
    // Job 3 fails and is scheduled an hour ahead.
    let three = q.claim("w", ten, lease(), 1).await.unwrap();
    assert_eq!(three[0].id, ids[3]);
    assert!(q.fail(ids[3], "w", "x", Some(at(3600)), ten).await.unwrap());

    let counts = q.counts(ten).await.unwrap();
    assert_eq!(
        counts,
        JobCounts {
            queued: 4,
            scheduled: 1,
            running: 1,
            stalled: 0,
            done: 1,
            dead: 1,
        }
    );
    // Past the lease of job 2, it counts as stalled.
    let stalled = q
        .counts(ten + lease() + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!((stalled.running, stalled.stalled), (1, 1));

    // Newest first, three at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = q.list(None, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|j| j.id));
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let of = |status| async move {
        q.list(Some(status), None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(of(JobStatus::Done).await, vec![ids[0]]);
    assert_eq!(of(JobStatus::Dead).await, vec![ids[1]]);
    assert_eq!(of(JobStatus::Running).await, vec![ids[2]]);
    assert_eq!(
        of(JobStatus::Queued).await,
        vec![ids[6], ids[5], ids[4], ids[3]]
    );
    let queued_after = q
        .list(Some(JobStatus::Queued), Some(ids[5]), 10)
        .await
        .unwrap();
    assert_eq!(
        queued_after.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    assert!(
        q.list(None, Some(Uuid::new_v4()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `purge_done` deletes done jobs last changed before the cut-off, and nothing else.
pub async fn purge_removes_old_done_jobs(q: &dyn JobQueue) {
    let now = clock().now();
    let at = |s: i64| now + TimeDelta::seconds(s);
    let old = enqueue(q, job("k"), now).await;
    let recent = enqueue(q, job("k"), now).await;
    let dead = enqueue(q, job("k"), now).await;
    let queued = enqueue(q, job("k").run_at(at(3600)), now).await;
    q.claim("w", now, lease(), 10).await.unwrap();
    assert!(q.complete(old, "w", at(1)).await.unwrap());
    assert!(q.complete(recent, "w", at(100)).await.unwrap());
    assert!(q.fail(dead, "w", "x", None, at(1)).await.unwrap());

    assert_eq!(q.purge_done(at(1)).await.unwrap(), 0, "strictly before");
    assert_eq!(q.purge_done(at(50)).await.unwrap(), 1);
    assert_eq!(q.get(old).await.unwrap(), None);
    for id in [recent, dead, queued] {
        assert!(q.get(id).await.unwrap().is_some());
    }
    assert_eq!(q.purge_done(at(50)).await.unwrap(), 0);
}

/// 200 jobs, four claimers claiming at the same time until the queue is empty: every job
/// is claimed exactly once.
pub async fn concurrent_claims_take_each_job_once(q: &dyn JobQueue) {
    let now = clock().now();
    let mut ids = HashSet::new();
    for _ in 0..200 {
        ids.insert(enqueue(q, job("k"), now).await);
    }
    let claimer = |name: String| async move {
        let mut mine = Vec::new();
        loop {
            let batch = q.claim(&name, now, lease(), 7).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for j in &batch {
                assert_eq!(j.locked_by.as_deref(), Some(name.as_str()));
                assert_eq!(j.attempts, 1);
            }
            mine.extend(batch.into_iter().map(|j| j.id));
            // Let the other claimers in between batches.
            tokio::task::yield_now().await;
        }
        mine
    };
    let runs = futures_util::future::join_all((0..4).map(|i| claimer(format!("w{i}")))).await;
    let total: usize = runs.iter().map(Vec::len).sum();
    let union: HashSet<Uuid> = runs.iter().flatten().copied().collect();
    assert_eq!(total, 200, "no job claimed twice");
    assert_eq!(union, ids, "every job claimed");
    assert!(
        runs.iter().filter(|r| !r.is_empty()).count() >= 2,
        "claims interleaved: {:?}",
        runs.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let counts = q.counts(now).await.unwrap();
    assert_eq!((counts.running, counts.queued), (200, 0));
}

/// What the test handler saw, per job.
#[derive(Default)]
struct Ledger {
    /// Invocations per job id, with the instant of each.
    calls: HashMap<Uuid, Vec<Instant>>,
    /// Jobs being handled right now.
    in_flight: HashSet<Uuid>,
    /// Jobs seen running twice at the same time (must stay empty).
    overlaps: Vec<Uuid>,
}

/// Fails the first attempt of jobs whose payload says `flaky`, every attempt of jobs
/// whose payload says `broken`; succeeds otherwise. Takes a little time, so runs overlap.
struct Recording {
    ledger: Arc<Mutex<Ledger>>,
}

#[async_trait]
impl JobHandler for Recording {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let attempt = {
            let mut l = self.ledger.lock().unwrap();
            if !l.in_flight.insert(job.id) {
                l.overlaps.push(job.id);
            }
            let calls = l.calls.entry(job.id).or_default();
            calls.push(Instant::now());
            calls.len()
        };
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.ledger.lock().unwrap().in_flight.remove(&job.id);
        if job.payload["broken"] == json!(true) {
            return Err(JobError::Retry("always broken".into()));
        }
        if job.payload["flaky"] == json!(true) && attempt == 1 {
            return Err(JobError::Retry("first attempt fails".into()));
        }
        Ok(())
    }
}

/// Two workers on one queue, 100 jobs of which every fourth fails its first attempt,
/// and one that always fails: every job is done exactly once (flaky ones run twice,
/// the others once), never by both workers at the same time, and the broken one is dead
/// after its three attempts, with the backoff between them.
pub async fn two_workers_run_every_job_once(q: Arc<dyn JobQueue>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let mut flaky = HashSet::new();
    for i in 0..100 {
        let id = enqueue(
            &*q,
            NewJob::new("test.record", json!({ "i": i, "flaky": i % 4 == 0 })),
            now,
        )
        .await;
        if i % 4 == 0 {
            flaky.insert(id);
        }
    }
    let broken = enqueue(
        &*q,
        NewJob::new("test.record", json!({ "broken": true })).max_attempts(3),
        now,
    )
    .await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let handler: Arc<dyn JobHandler> = Arc::new(Recording {
        ledger: ledger.clone(),
    });
    let backoff = Backoff {
        base: TimeDelta::milliseconds(20),
        max: TimeDelta::milliseconds(200),
        jitter: 0.5,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let worker = Worker::new(
            q.clone(),
            HashMap::from([("test.record".to_owned(), handler.clone())]),
            clock.clone(),
            WorkerConfig {
                concurrency: 4,
                poll_every: Duration::from_millis(5),
                backoff,
                ..WorkerConfig::new(name)
            },
        );
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move { worker.run(stopped).await }));
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = q.counts(clock.now()).await.unwrap();
        if c.done == 100 && c.dead == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "workers did not finish: {c:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("workers stop on shutdown")
            .unwrap();
    }

    {
        let l = ledger.lock().unwrap();
        assert!(
            l.overlaps.is_empty(),
            "jobs run twice at once: {:?}",
            l.overlaps
        );
        assert_eq!(l.calls.len(), 101);
        for (id, calls) in &l.calls {
            let expected = if *id == broken {
                3
            } else if flaky.contains(id) {
                2
            } else {
                1
            };
            assert_eq!(calls.len(), expected, "invocations of {id}");
        }
        // Backoff: at least base·(1 − jitter) after the first failure, twice that after the
        // second (plus the handler's own 2 ms).
        let calls = &l.calls[&broken];
        assert!(calls[1] - calls[0] >= Duration::from_millis(10));
        assert!(calls[2] - calls[1] >= Duration::from_millis(20));
    }
    let dead = q.get(broken).await.unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("always broken")),
        "{:?}",
        dead.last_error
    );
    let done = q.list(Some(JobStatus::Done), None, 200).await.unwrap();
    assert_eq!(done.len(), 100);
    for j in done {
        let expected = if flaky.contains(&j.id) { 2 } else { 1 };
        assert_eq!(j.attempts, expected);
        assert!(matches!(
            j.locked_by.as_deref(),
            Some("worker-a" | "worker-b")
        ));
    }
}

/// Several workers enqueueing the same periodic job store one job per time slot.
pub async fn periodic_jobs_once_per_slot_across_workers(q: Arc<dyn JobQueue>) {
    let clock = Arc::new(ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 17, 0, 30).unwrap(),
    ));
    let periodic = Periodic {
        kind: "cleanup.tokens".into(),
        every: TimeDelta::minutes(1),
        payload: json!({}),
    };
    let workers: Vec<Worker> = (0..3)
        .map(|i| {
            Worker::new(
                q.clone(),
                HashMap::new(),
                clock.clone(),
                WorkerConfig {
                    periodic: vec![periodic.clone()],
                    lease: TimeDelta::seconds(600),
                    ..WorkerConfig::new(format!("p{i}"))
                },
            )
        })
        .collect();
    // Without a handler the claimed jobs go dead, which is fine here: they are stored.
    for w in &workers {
        w.tick().await;
    }
    clock.advance(TimeDelta::seconds(20));
    for w in &workers {
        w.tick().await;
    }
    clock.advance(TimeDelta::seconds(20));
    for w in &workers {
        w.tick().await;
    }
    let mut keys: Vec<String> = q
        .list(None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.dedupe_key.unwrap())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "cleanup.tokens@2026-11-23T17:00:00Z",
            "cleanup.tokens@2026-11-23T17:01:00Z",
        ]
    );
}

/// An enqueue rings the queue's wake-up (`wake`, already listening), so an idle worker
/// claims at once; nothing rings without one.
pub async fn enqueues_ring_the_wakeup(queue: &dyn JobQueue, wake: Arc<tokio::sync::Notify>) {
    let now = clock().now();
    let quiet = tokio::time::timeout(Duration::from_millis(300), wake.notified()).await;
    assert!(quiet.is_err(), "no ring without an enqueue");
    queue
        .enqueue(NewJob::new("test.wake", json!({})), now)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(3), wake.notified())
        .await
        .expect("the enqueue rang the wake-up");
}
