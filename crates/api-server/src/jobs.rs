//! The server's background jobs, registered in one place: their handlers, the periodic
//! jobs, and the worker that runs them — inside `api-server serve` (unless
//! `AGORA_WORKER=off`) and alone as `api-server worker`.
//!
//! | kind | when | what |
//! |---|---|---|
//! | `email.send` | enqueued with an e-mail | hands `{to, subject, text, html}` to the [`Mailer`] |
//! | `jobs.purge_done` | hourly | deletes done jobs older than 7 days |
//! | `identity.purge_sessions` | hourly | deletes login sessions that ended (expired or revoked) over 7 days ago, with their refresh tokens |
//! | `rbac.purge_expired` | hourly | deletes role assignments and permission grants past their `expires_at` |
//! | `debates.purge_mutes` | hourly | deletes debate mutes that ended (mutes until lifted stay) |
//! | `analytics.rollup` | hourly | recomputes yesterday's and today's debate activity per scope (`/api/analytics/daily/`) |
//! | `events.dispatch` | recorded with a change (the outbox) | hands the event to its reactions (`crate::reactions`) |
//! | `debates.publish_results` | when a closed session's voting ends | tells its participants the results |
//!
//! Presence needs no cleanup job: its entries expire in Redis (or die with the process)
//! by themselves. Expired grants and mutes are ignored by every read before the purges
//! delete them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use domain_core::Clock;
use domain_identity::{LoginSessionRepository, UserRepository};
use domain_jobs::{Job, JobError, JobHandler, JobQueue, NewJob, Periodic, Worker, WorkerConfig};
use domain_notifications::{Email, MailError, Mailer};
use tokio::sync::watch;

use crate::config::Config;
use crate::mail::EMAIL_SEND;

/// Kind of the periodic job that deletes old done jobs.
pub const PURGE_DONE_JOBS: &str = "jobs.purge_done";
/// Kind of the periodic job that deletes ended login sessions.
pub const PURGE_LOGIN_SESSIONS: &str = "identity.purge_sessions";
/// Kind of the periodic job that deletes expired role assignments and grants.
pub const PURGE_GRANTS: &str = "rbac.purge_expired";
/// Kind of the periodic job that deletes ended debate mutes.
pub const PURGE_MUTES: &str = "debates.purge_mutes";
/// Kind of the periodic job that recomputes the daily debate activity.
pub const ANALYTICS_ROLLUP: &str = "analytics.rollup";

/// How long an ended session stays (an operator may still want to see it) before
/// `identity.purge_sessions` deletes it.
pub fn ended_sessions_kept() -> TimeDelta {
    TimeDelta::days(7)
}

/// How long done jobs stay visible to operators before `jobs.purge_done` deletes them.
pub fn done_jobs_kept() -> TimeDelta {
    TimeDelta::days(7)
}

/// Runs `email.send`.
struct SendEmail {
    mailer: Arc<dyn Mailer>,
}

#[async_trait]
impl JobHandler for SendEmail {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        // A payload that is not an e-mail will not become one on a retry.
        let email: Email = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("payload is not an e-mail: {e}")))?;
        self.mailer.send(&email).await.map_err(|e| match e {
            MailError::Transient(m) => JobError::Retry(m),
            MailError::Permanent(m) => JobError::Permanent(m),
        })
    }
}

/// Runs `jobs.purge_done`.
struct PurgeDoneJobs {
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for PurgeDoneJobs {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let older_than = self.clock.now() - done_jobs_kept();
        let purged = self
            .queue
            .purge_done(older_than)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(purged, %older_than, "done jobs purged");
        Ok(())
    }
}

/// Runs `identity.purge_sessions`.
struct PurgeLoginSessions {
    login_sessions: Arc<dyn LoginSessionRepository>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for PurgeLoginSessions {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let before = self.clock.now() - ended_sessions_kept();
        let purged = self
            .login_sessions
            .purge_ended(before)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(purged, %before, "ended login sessions purged");
        Ok(())
    }
}

/// Runs `rbac.purge_expired`.
struct PurgeGrants {
    rbac: Arc<domain_rbac::RbacService>,
}

#[async_trait]
impl JobHandler for PurgeGrants {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        self.rbac
            .purge_expired()
            .await
            .map(|_| ())
            .map_err(|e| JobError::Retry(e.to_string()))
    }
}

/// Runs `debates.purge_mutes`.
struct PurgeMutes {
    moderation: domain_debates::ModerationService,
}

#[async_trait]
impl JobHandler for PurgeMutes {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let purged = self
            .moderation
            .purge_expired_mutes()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(purged, "ended debate mutes purged");
        Ok(())
    }
}

/// Runs `analytics.rollup`. Idempotent (a roll-up replaces the days it computes), so a
/// retry or a run twice in one slot does no harm.
struct RollUpActivity {
    analytics: domain_debates::AnalyticsService,
}

#[async_trait]
impl JobHandler for RollUpActivity {
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let rows = self
            .analytics
            .roll_up_recent()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(rows, "debate activity of yesterday and today rolled up");
        Ok(())
    }
}

/// What the handlers need.
#[derive(Clone)]
pub struct JobDeps {
    /// The queue the worker claims from (and `jobs.purge_done` cleans).
    pub queue: Arc<dyn JobQueue>,
    /// Where e-mails go.
    pub mailer: Arc<dyn Mailer>,
    /// Accounts (e-mail addresses).
    pub users: Arc<dyn UserRepository>,
    /// Login sessions (`identity.purge_sessions`).
    pub login_sessions: Arc<dyn LoginSessionRepository>,
    /// Access control (`rbac.purge_expired`).
    pub rbac: Arc<domain_rbac::RbacService>,
    /// Moderation (`debates.purge_mutes`).
    pub moderation: domain_debates::ModerationService,
    /// Debate activity figures (`analytics.rollup`).
    pub analytics: domain_debates::AnalyticsService,
    /// The reactions to recorded domain events.
    pub reactions: crate::reactions::Reactions,
    /// Rung when jobs may have been enqueued: an idle worker claims at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// Every handler, by job kind.
pub fn handlers(deps: &JobDeps) -> HashMap<String, Arc<dyn JobHandler>> {
    let mut map: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
    map.insert(
        EMAIL_SEND.into(),
        Arc::new(SendEmail {
            mailer: deps.mailer.clone(),
        }),
    );
    map.insert(
        PURGE_DONE_JOBS.into(),
        Arc::new(PurgeDoneJobs {
            queue: deps.queue.clone(),
            clock: deps.clock.clone(),
        }),
    );
    map.insert(
        PURGE_LOGIN_SESSIONS.into(),
        Arc::new(PurgeLoginSessions {
            login_sessions: deps.login_sessions.clone(),
            clock: deps.clock.clone(),
        }),
    );
    map.insert(
        PURGE_GRANTS.into(),
        Arc::new(PurgeGrants {
            rbac: deps.rbac.clone(),
        }),
    );
    map.insert(
        PURGE_MUTES.into(),
        Arc::new(PurgeMutes {
            moderation: deps.moderation.clone(),
        }),
    );
    map.insert(
        ANALYTICS_ROLLUP.into(),
        Arc::new(RollUpActivity {
            analytics: deps.analytics.clone(),
        }),
    );
    map.extend(deps.reactions.handlers());
    map
}

/// The jobs enqueued on a schedule (one per slot however many workers run).
pub fn periodic() -> Vec<Periodic> {
    vec![
        Periodic {
            kind: PURGE_DONE_JOBS.into(),
            every: TimeDelta::hours(1),
            payload: serde_json::Value::Null,
        },
        Periodic {
            kind: PURGE_LOGIN_SESSIONS.into(),
            every: TimeDelta::hours(1),
            payload: serde_json::Value::Null,
        },
        Periodic {
            kind: PURGE_GRANTS.into(),
            every: TimeDelta::hours(1),
            payload: serde_json::Value::Null,
        },
        Periodic {
            kind: PURGE_MUTES.into(),
            every: TimeDelta::hours(1),
            payload: serde_json::Value::Null,
        },
        Periodic {
            kind: ANALYTICS_ROLLUP.into(),
            every: TimeDelta::hours(1),
            payload: serde_json::Value::Null,
        },
    ]
}

/// A name no other running worker has: host, process id and a random suffix (a
/// restarted container may reuse both host name and pid, and a lease is recognised by
/// the name).
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    // 190 characters of host at most: the queue takes names up to 200.
    let host: String = host.chars().take(160).collect();
    // Without OS randomness (a broken system) host and pid still name the process.
    let suffix = getrandom::u32().unwrap_or(0);
    format!("{host}/{}/{suffix:08x}", std::process::id())
}

/// The worker for `config` over `deps`.
pub fn worker(deps: &JobDeps, config: &Config) -> Worker {
    let worker_config = WorkerConfig {
        concurrency: config.worker_concurrency,
        poll_every: Duration::from_millis(config.worker_poll_ms),
        wake: Some(deps.wake.clone()),
        periodic: periodic(),
        ..WorkerConfig::new(worker_name())
    };
    Worker::new(
        Arc::new(Metered(deps.queue.clone())),
        handlers(deps),
        deps.clock.clone(),
        worker_config,
    )
}

/// The worker's queue, counting each outcome it records (`agora_job_runs_total`): the
/// worker reports outcomes only through `complete` and `fail`, so the domain crate needs
/// no metrics of its own.
struct Metered(Arc<dyn JobQueue>);

#[async_trait]
impl JobQueue for Metered {
    async fn enqueue(
        &self,
        job: NewJob,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<domain_jobs::Enqueued, domain_core::StoreError> {
        self.0.enqueue(job, now).await
    }
    async fn claim(
        &self,
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Job>, domain_core::StoreError> {
        self.0.claim(worker, now, lease, limit).await
    }
    async fn complete(
        &self,
        id: uuid::Uuid,
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, domain_core::StoreError> {
        let recorded = self.0.complete(id, worker, now).await;
        if let Ok(true) = recorded {
            crate::http::metrics::job_run("done");
        }
        recorded
    }
    async fn fail(
        &self,
        id: uuid::Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, domain_core::StoreError> {
        let recorded = self.0.fail(id, worker, error, retry_at, now).await;
        if let Ok(true) = recorded {
            crate::http::metrics::job_run(if retry_at.is_some() { "retry" } else { "dead" });
        }
        recorded
    }
    async fn extend(
        &self,
        id: uuid::Uuid,
        worker: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, domain_core::StoreError> {
        self.0.extend(id, worker, until).await
    }
    async fn counts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<domain_jobs::JobCounts, domain_core::StoreError> {
        self.0.counts(now).await
    }
    async fn list(
        &self,
        status: Option<domain_jobs::JobStatus>,
        after: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, domain_core::StoreError> {
        self.0.list(status, after, limit).await
    }
    async fn get(&self, id: uuid::Uuid) -> Result<Option<Job>, domain_core::StoreError> {
        self.0.get(id).await
    }
    async fn retry(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, domain_core::StoreError> {
        self.0.retry(id, now).await
    }
    async fn purge_done(
        &self,
        older_than: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, domain_core::StoreError> {
        self.0.purge_done(older_than).await
    }
}

/// A worker running on its own task; cheap to clone, every clone stops the same worker.
#[derive(Clone)]
pub struct WorkerHandle {
    stop: Arc<watch::Sender<bool>>,
    stopped: watch::Receiver<bool>,
    grace: Duration,
}

impl WorkerHandle {
    /// Runs `worker` on a new task of the current Tokio runtime; [`WorkerHandle::stop`]
    /// gives its running jobs up to `grace` to finish.
    pub fn spawn(worker: Worker, grace: Duration) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let (done, stopped) = watch::channel(false);
        tokio::spawn(async move {
            worker.run(stop_rx).await;
            let _ = done.send(true);
        });
        Self {
            stop: Arc::new(stop),
            stopped,
            grace,
        }
    }

    /// Tells the worker to stop claiming, without waiting.
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the worker and waits for its running jobs, at most the grace period; jobs
    /// still running then are abandoned with the process, and their leases bring them
    /// back to another worker. Calling it again waits again (idempotent).
    pub async fn stop(&self) {
        self.signal_stop();
        let mut stopped = self.stopped.clone();
        // An error means the task ended without saying so (it panicked): stopped too.
        if tokio::time::timeout(self.grace, stopped.wait_for(|done| *done))
            .await
            .is_err()
        {
            tracing::warn!(
                grace_secs = self.grace.as_secs(),
                "jobs still running after the shutdown timeout; their leases will hand them \
                 to another worker"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::mail::{EmailOutbox, LogMailer, email_job, html_of};
    use crate::wiring;
    use adapter_memory::MemoryJobQueue;
    use domain_core::ManualClock;
    use domain_jobs::JobStatus;

    use std::sync::Mutex;

    /// Records what it is asked to send; answers with `result`.
    struct Recording {
        sent: Mutex<Vec<Email>>,
        result: Result<(), MailError>,
    }

    #[async_trait]
    impl Mailer for Recording {
        async fn send(&self, email: &Email) -> Result<(), MailError> {
            self.sent.lock().unwrap().push(email.clone());
            self.result.clone()
        }
    }

    fn start() -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 17, 0, 0)
            .unwrap()
    }

    fn email() -> Email {
        Email {
            to: "ada@example.org".into(),
            subject: "Hello".into(),
            text: "hi".into(),
            html: "<p>hi</p>".into(),
        }
    }

    /// The job parts of a memory-mode server, with `mailer` and a clock at [`start`].
    async fn memory_deps(mailer: Arc<dyn Mailer>) -> JobDeps {
        let config = Config::from_lookup(|key| {
            (key == "AGORA_JWT_SECRET")
                .then(|| "jobs-unit-tests-key-q8Zr1VtYx3Lm9Pw2Ks7Df4Gh6Jn0BcXa5Ue".into())
        })
        .unwrap();
        let backends = wiring::build(&config).await.unwrap();
        JobDeps {
            queue: Arc::new(MemoryJobQueue::new()),
            mailer,
            clock: Arc::new(ManualClock::new(start())),
            ..backends.job_deps()
        }
    }

    async fn setup(result: Result<(), MailError>) -> (JobDeps, Arc<Recording>, Worker) {
        let mailer = Arc::new(Recording {
            sent: Mutex::new(Vec::new()),
            result,
        });
        let deps = memory_deps(mailer.clone()).await;
        let w = Worker::new(
            deps.queue.clone(),
            handlers(&deps),
            deps.clock.clone(),
            WorkerConfig::new("test-worker"),
        );
        (deps, mailer, w)
    }

    async fn run_one(deps: &JobDeps, w: &Worker, job: NewJob) -> Job {
        let id = deps.queue.enqueue(job, deps.clock.now()).await.unwrap().id;
        assert_eq!(w.tick().await, 1);
        deps.queue.get(id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn email_jobs_reach_the_mailer() {
        let (deps, mailer, w) = setup(Ok(())).await;
        let job = run_one(&deps, &w, email_job(&email())).await;
        assert_eq!(job.status, JobStatus::Done);
        assert_eq!(*mailer.sent.lock().unwrap(), vec![email()]);
    }

    #[tokio::test]
    async fn transient_mail_errors_are_retried_and_permanent_ones_are_dead() {
        let (deps, _, w) = setup(Err(MailError::Transient("421 busy".into()))).await;
        let job = run_one(&deps, &w, email_job(&email())).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.last_error.as_deref(), Some("421 busy"));

        let (deps, _, w) = setup(Err(MailError::Permanent("550 no such user".into()))).await;
        let job = run_one(&deps, &w, email_job(&email())).await;
        assert_eq!(job.status, JobStatus::Dead);
    }

    #[tokio::test]
    async fn a_payload_that_is_not_an_email_is_dead_at_once() {
        let (deps, mailer, w) = setup(Ok(())).await;
        let job = run_one(
            &deps,
            &w,
            NewJob::new(EMAIL_SEND, serde_json::json!({"to": 1})),
        )
        .await;
        assert_eq!(job.status, JobStatus::Dead);
        assert!(mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn purge_done_keeps_a_week() {
        let (deps, _, w) = setup(Ok(())).await;
        let done = run_one(&deps, &w, email_job(&email())).await;
        assert_eq!(done.status, JobStatus::Done);
        let purge = NewJob::new(PURGE_DONE_JOBS, serde_json::Value::Null);
        // a day later the e-mail job stays
        let clock = ManualClock::new(deps.clock.now() + TimeDelta::days(1));
        let deps_later = JobDeps {
            clock: Arc::new(clock),
            ..deps.clone()
        };
        let w_later = Worker::new(
            deps_later.queue.clone(),
            handlers(&deps_later),
            deps_later.clock.clone(),
            WorkerConfig::new("test-worker"),
        );
        run_one(&deps_later, &w_later, purge.clone()).await;
        assert!(deps.queue.get(done.id).await.unwrap().is_some());
        // eight days later it is gone
        let deps_week = JobDeps {
            clock: Arc::new(ManualClock::new(deps.clock.now() + TimeDelta::days(8))),
            ..deps.clone()
        };
        let w_week = Worker::new(
            deps_week.queue.clone(),
            handlers(&deps_week),
            deps_week.clock.clone(),
            WorkerConfig::new("test-worker"),
        );
        run_one(&deps_week, &w_week, purge).await;
        assert!(deps.queue.get(done.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_mute_purge_and_the_roll_up_run_to_done() {
        let (deps, _, w) = setup(Ok(())).await;
        for kind in [PURGE_MUTES, ANALYTICS_ROLLUP] {
            let job = run_one(&deps, &w, NewJob::new(kind, serde_json::Value::Null)).await;
            assert_eq!(job.status, JobStatus::Done, "{kind}: {:?}", job.last_error);
        }
    }

    #[test]
    fn html_bodies_are_escaped_copies_of_the_text() {
        assert_eq!(
            html_of("a <b> & \"c\"\nnext"),
            "<p>a &lt;b&gt; &amp; &quot;c&quot;<br>\nnext</p>"
        );
    }

    #[tokio::test]
    async fn the_outbox_mails_active_users_once_per_key() {
        let (deps, mailer, w) = setup(Ok(())).await;
        let user = domain_identity::NewUser {
            id: domain_identity::UserId::new_random(),
            username: domain_identity::Username::parse("ada").unwrap(),
            email: domain_identity::Email::parse("ada@example.org").unwrap(),
            password_hash: "x".into(),
            created_at: start(),
        };
        let id = user.id.as_uuid();
        deps.users.insert(user).await.unwrap();
        let outbox = EmailOutbox::new(deps.queue.clone(), deps.users.clone(), deps.clock.clone());
        assert!(
            outbox
                .to_user(id, "Muted", "You <were> muted", "k1")
                .await
                .unwrap()
        );
        assert!(!outbox.to_user(id, "Muted", "again", "k1").await.unwrap());
        assert!(
            !outbox
                .to_user(uuid::Uuid::new_v4(), "s", "t", "k2")
                .await
                .unwrap()
        );
        assert_eq!(w.tick().await, 1);
        let sent = mailer.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ada@example.org");
        assert_eq!(sent[0].html, "<p>You &lt;were&gt; muted</p>");
    }

    #[test]
    fn worker_names_differ_between_workers() {
        let (a, b) = (worker_name(), worker_name());
        assert_ne!(a, b);
        assert!(a.contains(&format!("/{}/", std::process::id())));
        assert!(a.len() <= 200);
    }

    #[tokio::test]
    async fn periodic_jobs_have_handlers() {
        let deps = memory_deps(Arc::new(LogMailer)).await;
        let kinds = handlers(&deps);
        for p in periodic() {
            assert!(kinds.contains_key(&p.kind), "{} has no handler", p.kind);
        }
    }
}
