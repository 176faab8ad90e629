//! The worker runtime: claims due jobs from a [`JobQueue`], runs their handlers
//! concurrently, and records each outcome (done, retry after a backoff, dead).
//!
//! Any number of workers may share a queue, in one process or on many machines: the
//! queue's claim hands each job to one of them, and leases bring back the jobs of a
//! worker that died. Periodic jobs are enqueued by every worker under a dedupe key naming
//! the time slot, so however many workers run, each slot gets one job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use domain_core::Clock;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backoff::{Backoff, os_random};
use crate::model::{Job, NewJob};
use crate::ports::JobQueue;

/// Why a handler did not finish its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a dependency was down, a timeout): retried after a
    /// backoff until the job's attempts run out.
    #[error("retryable: {0}")]
    Retry(String),
    /// Trying again cannot help (the payload is invalid, the target is gone): the job
    /// goes straight to the dead-letter state.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Runs the jobs of one kind. Delivery is at least once, so a handler must be idempotent:
/// running a job a second time (after a crash, a lost lease) must not repeat its effect.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Does the job's work.
    ///
    /// # Errors
    /// [`JobError::Retry`] to be run again later, [`JobError::Permanent`] to give up.
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}

/// A job enqueued every `every`, in slots aligned on the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    /// The job's kind (and the first half of its dedupe key).
    pub kind: String,
    /// Length of a slot; one job per slot.
    pub every: TimeDelta,
    /// Payload of every job.
    pub payload: serde_json::Value,
}

impl Periodic {
    /// The start of the slot holding `now`, or `None` when `every` is not a positive
    /// duration that divides time.
    pub fn slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.every <= TimeDelta::zero() {
            return None;
        }
        now.duration_trunc(self.every).ok()
    }

    /// The job for the slot holding `now`: due at the slot's start, deduplicated by
    /// `"{kind}@{slot start, RFC 3339}"`.
    pub fn job_at(&self, now: DateTime<Utc>) -> Option<NewJob> {
        let slot = self.slot(now)?;
        Some(
            NewJob::new(self.kind.clone(), self.payload.clone())
                .run_at(slot)
                .dedupe_key(format!(
                    "{}@{}",
                    self.kind,
                    slot.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                )),
        )
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's name in leases; unique among running workers (for example host,
    /// process id and a random suffix), since a lease is recognised by it; 1 to 200
    /// characters (the PostgreSQL queue's limit).
    pub name: String,
    /// Jobs run at the same time (at least 1).
    pub concurrency: u32,
    /// Pause between claims when nothing was due.
    pub poll_every: Duration,
    /// How long a claim holds a job; renewed every third of it while the handler runs,
    /// so only a dead worker's jobs outlive their lease.
    pub lease: TimeDelta,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Jobs to enqueue on a schedule.
    pub periodic: Vec<Periodic>,
    /// Rung when jobs may have been enqueued (the queue's wake-ups: PostgreSQL
    /// `LISTEN`, or the memory queue itself): an idle worker claims at once instead of
    /// at its next poll, so a reaction to a change runs within milliseconds. The poll
    /// stays as the fallback (a missed wake-up, a job that became due by the clock).
    pub wake: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl WorkerConfig {
    /// A worker called `name`: 8 jobs at a time, polling every second, 5-minute leases,
    /// the default backoff, nothing periodic.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            concurrency: 8,
            poll_every: Duration::from_secs(1),
            lease: TimeDelta::minutes(5),
            backoff: Backoff::default(),
            periodic: Vec::new(),
            wake: None,
        }
    }
}

/// Source of the uniform `[0, 1)` numbers that jitter the backoff.
pub type RandomSource = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Claims and runs jobs; cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn JobQueue>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    random: RandomSource,
    /// The last slot this worker enqueued per periodic kind, so it writes once per slot
    /// rather than on every poll (the dedupe key would make the extra writes harmless,
    /// but not free).
    enqueued_slots: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.inner.config)
            .field("kinds", &self.inner.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What became of one claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Retried,
    Dead,
    /// The lease was lost, or recording the outcome failed; the job comes back when its
    /// lease expires.
    Unrecorded,
}

impl Worker {
    /// A worker over `queue` running the jobs whose kinds `handlers` names (a job of any
    /// other kind goes dead), reading the time from `clock`.
    pub fn new(
        queue: Arc<dyn JobQueue>,
        handlers: HashMap<String, Arc<dyn JobHandler>>,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                queue,
                handlers,
                clock,
                config,
                random: Arc::new(os_random),
                enqueued_slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The same worker with the backoff's jitter drawn from `random` (tests pass a
    /// constant).
    #[must_use]
    pub fn with_random(self, random: RandomSource) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            // Shared already: rebuild around the same parts.
            Err(shared) => Inner {
                queue: shared.queue.clone(),
                handlers: shared.handlers.clone(),
                clock: shared.clock.clone(),
                config: shared.config.clone(),
                random: shared.random.clone(),
                enqueued_slots: Mutex::new(HashMap::new()),
            },
        };
        Self {
            inner: Arc::new(Inner { random, ..inner }),
        }
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.inner.config
    }

    /// Runs until `shutdown` holds `true` (or its sender is dropped): claims as many
    /// jobs as there are free slots, runs them concurrently, and sleeps
    /// `poll_every` (or until `wake` rings) when nothing is due. On shutdown it stops claiming and waits for
    /// the running jobs to finish.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let concurrency = self.inner.config.concurrency.max(1);
        let mut running: JoinSet<Outcome> = JoinSet::new();
        tracing::info!(worker = %self.inner.config.name, concurrency, "job worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            while running.try_join_next().is_some() {}
            let busy = u32::try_from(running.len()).unwrap_or(u32::MAX);
            let free = concurrency.saturating_sub(busy);
            let mut claimed = 0;
            if free > 0 {
                self.enqueue_periodic().await;
                for job in self.claim(free).await {
                    claimed += 1;
                    let worker = self.clone();
                    running.spawn(async move { worker.execute(job).await });
                }
            }
            // A full batch may mean more is due: claim again at once. Otherwise (fewer
            // due jobs than free slots, or no free slot) wait for a slot to free up, the
            // next poll or the shutdown, whichever comes first.
            if free == 0 || claimed < free {
                let woken = async {
                    match &self.inner.config.wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(self.inner.config.poll_every) => {}
                    // a wake-up with every slot busy changes nothing: wait for a slot
                    () = woken, if free > 0 => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    changed = shutdown.changed() => {
                        // A dropped sender can never say "go on": stop.
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        tracing::info!(
            worker = %self.inner.config.name,
            running = running.len(),
            "job worker stopping; finishing running jobs"
        );
        while running.join_next().await.is_some() {}
    }

    /// One round: enqueues the periodic jobs due, claims up to `concurrency` jobs, runs
    /// them concurrently and waits for all of them. Returns how many were claimed.
    pub async fn tick(&self) -> usize {
        self.enqueue_periodic().await;
        let jobs = self.claim(self.inner.config.concurrency.max(1)).await;
        let claimed = jobs.len();
        let mut running = JoinSet::new();
        for job in jobs {
            let worker = self.clone();
            running.spawn(async move { worker.execute(job).await });
        }
        while running.join_next().await.is_some() {}
        claimed
    }

    /// Enqueues the current slot's job of every periodic not yet enqueued by this worker.
    async fn enqueue_periodic(&self) {
        let now = self.inner.clock.now();
        for periodic in &self.inner.config.periodic {
            let (Some(slot), Some(job)) = (periodic.slot(now), periodic.job_at(now)) else {
                tracing::warn!(kind = %periodic.kind, "periodic job with an unusable period");
                continue;
            };
            let seen = crate::lock(&self.inner.enqueued_slots)
                .get(&periodic.kind)
                .is_some_and(|last| *last >= slot);
            if seen {
                continue;
            }
            match self.inner.queue.enqueue(job, now).await {
                Ok(enqueued) => {
                    if enqueued.fresh {
                        tracing::debug!(kind = %periodic.kind, %slot, id = %enqueued.id, "periodic job enqueued");
                    }
                    crate::lock(&self.inner.enqueued_slots).insert(periodic.kind.clone(), slot);
                }
                Err(e) => {
                    tracing::warn!(kind = %periodic.kind, error = %e, "could not enqueue a periodic job");
                }
            }
        }
    }

    async fn claim(&self, limit: u32) -> Vec<Job> {
        let c = &self.inner.config;
        match self
            .inner
            .queue
            .claim(&c.name, self.inner.clock.now(), c.lease, limit)
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(worker = %c.name, error = %e, "could not claim jobs");
                Vec::new()
            }
        }
    }

    /// Runs one claimed job and records its outcome.
    async fn execute(&self, job: Job) -> Outcome {
        if job.attempts > job.max_attempts {
            // Claimed again after its last attempt's lease expired: that run's worker
            // died (perhaps because of this job); running it once more would exceed the
            // limit.
            return self
                .give_up(
                    &job,
                    "the worker running its last attempt stopped (lease expired)",
                )
                .await;
        }
        let Some(handler) = self.inner.handlers.get(&job.kind).cloned() else {
            let error = format!("no handler for job kind `{}`", job.kind);
            return self.give_up(&job, &error).await;
        };
        let result = self.run_handler(handler, &job).await;
        match result {
            Ok(()) => self.record_done(&job).await,
            Err(JobError::Permanent(error)) => self.give_up(&job, &error).await,
            Err(JobError::Retry(error)) if job.attempts >= job.max_attempts => {
                let error = format!("{error} (attempt {} of {})", job.attempts, job.max_attempts);
                self.give_up(&job, &error).await
            }
            Err(JobError::Retry(error)) => {
                let delay = self
                    .inner
                    .config
                    .backoff
                    .delay(job.attempts, (self.inner.random)());
                let now = self.inner.clock.now();
                self.record_failure(&job, &error, Some(now + delay), now)
                    .await
            }
        }
    }

    /// Runs the handler on its own task, so a panic is caught (as a retryable error)
    /// instead of taking down the worker, and renews the lease while it runs.
    async fn run_handler(&self, handler: Arc<dyn JobHandler>, job: &Job) -> Result<(), JobError> {
        let owned = job.clone();
        let mut task = tokio::spawn(async move { handler.handle(&owned).await });
        let lease = self.inner.config.lease;
        let every = (lease / 3).to_std().unwrap_or(Duration::from_secs(1));
        let every = every.max(Duration::from_millis(10));
        let mut heartbeat = tokio::time::interval(every);
        // The first tick is immediate, and the claim has just set the lease.
        heartbeat.tick().await;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return match joined {
                        Ok(result) => result,
                        Err(e) if e.is_panic() => Err(JobError::Retry(format!("handler panicked: {}", panic_message(e)))),
                        Err(e) => Err(JobError::Retry(format!("handler task failed: {e}"))),
                    };
                }
                _ = heartbeat.tick() => {
                    let until = self.inner.clock.now() + lease;
                    match self.inner.queue.extend(job.id, &self.inner.config.name, until).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = %job.id, "lease lost while the job runs; another worker may run it"),
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "could not extend a lease"),
                    }
                }
            }
        }
    }

    async fn record_done(&self, job: &Job) -> Outcome {
        let now = self.inner.clock.now();
        match self
            .inner
            .queue
            .complete(job.id, &self.inner.config.name, now)
            .await
        {
            Ok(true) => Outcome::Done,
            Ok(false) => {
                tracing::warn!(job = %job.id, kind = %job.kind, "job finished after its lease was taken over; not recorded");
                Outcome::Unrecorded
            }
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not record a finished job; it will run again");
                Outcome::Unrecorded
            }
        }
    }

    async fn give_up(&self, job: &Job, error: &str) -> Outcome {
        tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, %error, "job is dead");
        let now = self.inner.clock.now();
        self.record_failure(job, error, None, now).await
    }

    async fn record_failure(
        &self,
        job: &Job,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let error = clip(error, ERROR_MAX_CHARS);
        match self
            .inner
            .queue
            .fail(job.id, &self.inner.config.name, error, retry_at, now)
            .await
        {
            Ok(true) if retry_at.is_some() => {
                tracing::info!(job = %job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed; will retry");
                Outcome::Retried
            }
            Ok(true) => Outcome::Dead,
            Ok(false) => {
                tracing::warn!(job = %job.id, kind = %job.kind, "job failed after its lease was taken over; not recorded");
                Outcome::Unrecorded
            }
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not record a failed job; it will run again");
                Outcome::Unrecorded
            }
        }
    }
}

/// Longest error text stored with a failed job; a handler may report a whole response
/// body, which the job row need not keep.
pub const ERROR_MAX_CHARS: usize = 2000;

/// The first `max` characters of `s`.
fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// The text of a panic, when it was a string.
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic payload".to_owned()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobStatus, NewJob};
    use crate::ports::MockJobQueue;
    use chrono::TimeZone;
    use domain_core::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use uuid::Uuid;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap()
    }

    fn job(kind: &str, attempts: u32, max_attempts: u32) -> Job {
        Job {
            id: Uuid::new_v4(),
            kind: kind.to_owned(),
            payload: serde_json::json!({}),
            status: JobStatus::Running,
            attempts,
            max_attempts,
            run_at: start(),
            locked_by: Some("w1".to_owned()),
            locked_until: Some(start() + TimeDelta::minutes(5)),
            last_error: None,
            dedupe_key: None,
            created_at: start(),
            updated_at: start(),
        }
    }

    /// Answers with a fixed result and counts its calls.
    struct Fixed {
        result: Result<(), JobError>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl JobHandler for Fixed {
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.result.clone()
        }
    }

    struct Panics;

    #[async_trait]
    impl JobHandler for Panics {
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            panic!("handler blew up")
        }
    }

    fn config() -> WorkerConfig {
        WorkerConfig {
            backoff: Backoff {
                base: TimeDelta::milliseconds(100),
                max: TimeDelta::seconds(10),
                jitter: 0.2,
            },
            ..WorkerConfig::new("w1")
        }
    }

    /// A worker over `queue` whose one handler (kind `k`) is `handler`, with the
    /// jitter's random number fixed at 0.5 (a factor of exactly 1).
    fn worker(queue: MockJobQueue, handler: Arc<dyn JobHandler>) -> Worker {
        let handlers = HashMap::from([("k".to_owned(), handler)]);
        Worker::new(
            Arc::new(queue),
            handlers,
            Arc::new(ManualClock::new(start())),
            config(),
        )
        .with_random(Arc::new(|| 0.5))
    }

    fn fixed(result: Result<(), JobError>) -> Arc<Fixed> {
        Arc::new(Fixed {
            result,
            calls: AtomicUsize::new(0),
        })
    }

    fn claims(queue: &mut MockJobQueue, jobs: Vec<Job>) {
        queue
            .expect_claim()
            .withf(|w, now, lease, limit| {
                w == "w1" && *now == start() && *lease == TimeDelta::minutes(5) && *limit == 8
            })
            .times(1)
            .return_once(move |_, _, _, _| Ok(jobs));
    }

    #[tokio::test]
    async fn success_completes_the_job() {
        let j = job("k", 1, 5);
        let id = j.id;
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_complete()
            .withf(move |i, w, now| *i == id && w == "w1" && *now == start())
            .times(1)
            .returning(|_, _, _| Ok(true));
        let h = fixed(Ok(()));
        assert_eq!(worker(q, h.clone()).tick().await, 1);
        assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retry_fails_with_run_at_after_the_backoff() {
        // Third attempt: 100 ms · 2² = 400 ms.
        let j = job("k", 3, 5);
        let id = j.id;
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_fail()
            .withf(move |i, w, e, retry_at, now| {
                *i == id
                    && w == "w1"
                    && e == "flaky"
                    && *retry_at == Some(start() + TimeDelta::milliseconds(400))
                    && *now == start()
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        worker(q, fixed(Err(JobError::Retry("flaky".into()))))
            .tick()
            .await;
    }

    #[tokio::test]
    async fn retry_on_the_last_attempt_goes_dead() {
        let j = job("k", 5, 5);
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_fail()
            .withf(|_, _, e, retry_at, _| retry_at.is_none() && e.contains("flaky"))
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        worker(q, fixed(Err(JobError::Retry("flaky".into()))))
            .tick()
            .await;
    }

    #[tokio::test]
    async fn permanent_failure_goes_dead_at_once() {
        let j = job("k", 1, 5);
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_fail()
            .withf(|_, _, e, retry_at, _| retry_at.is_none() && e == "bad payload")
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        worker(q, fixed(Err(JobError::Permanent("bad payload".into()))))
            .tick()
            .await;
    }

    #[tokio::test]
    async fn unknown_kind_goes_dead_without_running() {
        let j = job("nobody.handles.this", 1, 5);
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_fail()
            .withf(|_, _, e, retry_at, _| {
                retry_at.is_none() && e == "no handler for job kind `nobody.handles.this`"
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        let h = fixed(Ok(()));
        worker(q, h.clone()).tick().await;
        assert_eq!(h.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_claim_past_the_last_attempt_goes_dead_without_running() {
        // Its sixth claim: the fifth run's worker died holding it.
        let j = job("k", 6, 5);
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![j]);
        q.expect_fail()
            .withf(|_, _, e, retry_at, _| retry_at.is_none() && e.contains("lease expired"))
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));
        let h = fixed(Ok(()));
        worker(q, h.clone()).tick().await;
        assert_eq!(h.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_retry_and_the_worker_survives() {
        let (a, b) = (job("k", 1, 5), job("k", 1, 5));
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![a, b]);
        q.expect_fail()
            .withf(|_, _, e, retry_at, _| {
                e == "handler panicked: handler blew up"
                    && *retry_at == Some(start() + TimeDelta::milliseconds(100))
            })
            .times(2)
            .returning(|_, _, _, _, _| Ok(true));
        assert_eq!(worker(q, Arc::new(Panics)).tick().await, 2);
    }

    #[tokio::test]
    async fn nothing_due_runs_nothing() {
        let mut q = MockJobQueue::new();
        claims(&mut q, vec![]);
        assert_eq!(worker(q, fixed(Ok(()))).tick().await, 0);
    }

    #[test]
    fn long_errors_are_clipped_on_a_char_boundary() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("", 3), "");
    }

    #[test]
    fn periodic_jobs_are_keyed_by_their_slot() {
        let p = Periodic {
            kind: "cleanup".into(),
            every: TimeDelta::minutes(15),
            payload: serde_json::json!({"x": 1}),
        };
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap();
        let a = p.job_at(at(17, 14, 59)).unwrap();
        let b = p.job_at(at(17, 0, 0)).unwrap();
        let c = p.job_at(at(17, 15, 0)).unwrap();
        assert_eq!(
            a.dedupe_key.as_deref(),
            Some("cleanup@2026-11-23T17:00:00Z")
        );
        assert_eq!(a, b);
        assert_eq!(a.run_at, Some(at(17, 0, 0)));
        assert_eq!(a.payload, serde_json::json!({"x": 1}));
        assert_eq!(
            c.dedupe_key.as_deref(),
            Some("cleanup@2026-11-23T17:15:00Z")
        );
        let broken = Periodic {
            every: TimeDelta::zero(),
            ..p
        };
        assert_eq!(broken.job_at(at(17, 0, 0)), None);
    }

    #[tokio::test]
    async fn ticks_enqueue_each_periodic_once_per_slot() {
        let clock = Arc::new(ManualClock::new(start()));
        let enqueued: Arc<Mutex<Vec<NewJob>>> = Arc::default();
        let mut q = MockJobQueue::new();
        let seen = enqueued.clone();
        q.expect_enqueue().returning(move |job, _| {
            seen.lock().unwrap().push(job);
            Ok(crate::Enqueued {
                id: Uuid::new_v4(),
                fresh: true,
            })
        });
        q.expect_claim().returning(|_, _, _, _| Ok(vec![]));
        let config = WorkerConfig {
            periodic: vec![
                Periodic {
                    kind: "hourly".into(),
                    every: TimeDelta::hours(1),
                    payload: serde_json::json!(null),
                },
                Periodic {
                    kind: "minutely".into(),
                    every: TimeDelta::minutes(1),
                    payload: serde_json::json!(null),
                },
            ],
            ..config()
        };
        let w = Worker::new(Arc::new(q), HashMap::new(), clock.clone(), config);
        w.tick().await;
        w.tick().await;
        clock.advance(TimeDelta::seconds(90));
        w.tick().await;
        let keys: Vec<String> = enqueued
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.dedupe_key.clone().unwrap())
            .collect();
        assert_eq!(
            keys,
            vec![
                "hourly@2026-11-23T17:00:00Z",
                "minutely@2026-11-23T17:00:00Z",
                "minutely@2026-11-23T17:01:00Z",
            ]
        );
    }

    #[tokio::test]
    async fn run_stops_on_shutdown_and_finishes_running_jobs() {
        let j = job("k", 1, 5);
        let mut q = MockJobQueue::new();
        let mut first = Some(vec![j]);
        q.expect_claim()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        q.expect_complete().times(1).returning(|_, _, _| Ok(true));
        let h = fixed(Ok(()));
        let w = Worker::new(
            Arc::new(q),
            HashMap::from([("k".to_owned(), h.clone() as Arc<dyn JobHandler>)]),
            Arc::new(ManualClock::new(start())),
            WorkerConfig {
                poll_every: Duration::from_millis(5),
                ..config()
            },
        );
        let (tx, rx) = watch::channel(false);
        let running = tokio::spawn({
            let w = w.clone();
            async move { w.run(rx).await }
        });
        while h.calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .unwrap()
            .unwrap();
    }

    /// Blocks until released; counts its calls.
    struct Gate {
        release: Arc<tokio::sync::Notify>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl JobHandler for Gate {
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.release.notified().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_full_worker_waits_for_a_free_slot_instead_of_claiming() {
        let claims = Arc::new(AtomicUsize::new(0));
        let mut q = MockJobQueue::new();
        let mut first = Some(vec![job("k", 1, 5)]);
        let counted = claims.clone();
        q.expect_claim().returning(move |_, _, _, limit| {
            assert_eq!(limit, 1);
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(first.take().unwrap_or_default())
        });
        q.expect_complete().times(1).returning(|_, _, _| Ok(true));
        let gate = Arc::new(Gate {
            release: Arc::default(),
            calls: AtomicUsize::new(0),
        });
        let w = Worker::new(
            Arc::new(q),
            HashMap::from([("k".to_owned(), gate.clone() as Arc<dyn JobHandler>)]),
            Arc::new(ManualClock::new(start())),
            WorkerConfig {
                concurrency: 1,
                poll_every: Duration::from_secs(60),
                ..config()
            },
        );
        let (tx, rx) = watch::channel(false);
        let running = tokio::spawn({
            let w = w.clone();
            async move { w.run(rx).await }
        });
        while gate.calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(claims.load(Ordering::SeqCst), 1, "no claim while full");
        // The slot frees up: the worker claims again at once, not after the poll.
        gate.release.notify_one();
        tokio::time::timeout(Duration::from_secs(5), async {
            while claims.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .unwrap()
            .unwrap();
    }

    /// Sleeps a while, then succeeds.
    struct Slow;

    #[async_trait]
    impl JobHandler for Slow {
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            tokio::time::sleep(Duration::from_millis(60)).await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn long_runs_renew_their_lease() {
        let j = job("k", 1, 5);
        let id = j.id;
        let mut q = MockJobQueue::new();
        q.expect_claim().return_once(move |_, _, _, _| Ok(vec![j]));
        let lease = TimeDelta::milliseconds(30);
        q.expect_extend()
            .withf(move |i, w, until| *i == id && w == "w1" && *until == start() + lease)
            .times(2..)
            .returning(|_, _, _| Ok(true));
        q.expect_complete().times(1).returning(|_, _, _| Ok(true));
        let w = Worker::new(
            Arc::new(q),
            HashMap::from([("k".to_owned(), Arc::new(Slow) as Arc<dyn JobHandler>)]),
            Arc::new(ManualClock::new(start())),
            WorkerConfig { lease, ..config() },
        );
        assert_eq!(w.tick().await, 1);
    }
}
