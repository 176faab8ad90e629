//! What a job is: its kind, its JSON payload, when it may run, and how its runs went.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many attempts a job gets unless its enqueuer says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Where a job is in its life: `queued → running → done`, back to `queued` for a retry,
/// or `dead` once it has failed for good (an operator may put a dead job back in the
/// queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for `run_at`, or due and waiting for a worker.
    Queued,
    /// Claimed by a worker, whose lease runs until `locked_until`.
    Running,
    /// Finished successfully.
    Done,
    /// Failed permanently or ran out of attempts: the dead-letter state.
    Dead,
}

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [JobStatus; 4] = [Self::Queued, Self::Running, Self::Done, Self::Dead];

    /// The stored name (`queued`, `running`, `done`, `dead`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// The status stored as `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Identifier, chosen by the queue at enqueue.
    pub id: Uuid,
    /// Which handler runs it (for example `email.send`).
    pub kind: String,
    /// The handler's input; handlers must tolerate running it more than once.
    pub payload: serde_json::Value,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// Runs started so far (a claim counts one).
    pub attempts: u32,
    /// Runs allowed before a retryable failure becomes [`JobStatus::Dead`].
    pub max_attempts: u32,
    /// Not claimed before this instant.
    pub run_at: DateTime<Utc>,
    /// The worker that claimed it last (kept after the run, for operators).
    pub locked_by: Option<String>,
    /// End of the running worker's lease; set only while [`JobStatus::Running`]. Past it
    /// the worker is presumed dead and any worker may claim the job again.
    pub locked_until: Option<DateTime<Utc>>,
    /// What the last failed run reported.
    pub last_error: Option<String>,
    /// Makes enqueueing idempotent: no second job is ever stored with the same key.
    pub dedupe_key: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// Which handler runs it; 1 to 100 characters (the PostgreSQL queue's limit).
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// Not claimed before this instant; `None` means at once (the enqueue's `now`).
    pub run_at: Option<DateTime<Utc>>,
    /// Runs allowed (at least 1).
    pub max_attempts: u32,
    /// Idempotency key: enqueueing a second job with a key any stored job has — whatever
    /// its status — stores nothing and answers with the first job's id. 1 to 300
    /// characters.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload`, due at once, with [`DEFAULT_MAX_ATTEMPTS`] and no
    /// dedupe key.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }

    /// Not to run before `at` (a scheduled job).
    #[must_use]
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// At most `n` runs (0 is taken as 1: a job always gets its first run).
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Enqueued at most once under `key`.
    #[must_use]
    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// When the job becomes due if enqueued at `now`.
    pub fn due_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.run_at.unwrap_or(now)
    }

    /// The job as a queue stores it when enqueued at `now` under `id`: queued, no
    /// attempts yet, due when asked (or now), at least one attempt allowed.
    pub fn queued(self, id: Uuid, now: DateTime<Utc>) -> Job {
        Job {
            id,
            run_at: self.due_at(now),
            kind: self.kind,
            payload: self.payload,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: self.max_attempts.max(1),
            locked_by: None,
            locked_until: None,
            last_error: None,
            dedupe_key: self.dedupe_key,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id: the new one, or the existing job's holding the same dedupe key.
    pub id: Uuid,
    /// `false` when a job with the same dedupe key already existed and nothing was
    /// stored.
    pub fresh: bool,
}

/// How many jobs are in each state, for operators and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Queued jobs (due or not).
    pub queued: u64,
    /// Of `queued`, those whose `run_at` is still ahead.
    pub scheduled: u64,
    /// Running jobs.
    pub running: u64,
    /// Of `running`, those whose lease has expired: their worker stopped, and the next
    /// claim takes them again.
    pub stalled: u64,
    /// Finished jobs not yet purged.
    pub done: u64,
    /// Dead jobs, waiting for an operator.
    pub dead: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_names() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("failed"), None);
    }

    #[test]
    fn new_job_defaults() {
        let job = NewJob::new("k", serde_json::json!({"a": 1}));
        assert_eq!(job.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(job.run_at, None);
        assert_eq!(job.dedupe_key, None);
        assert_eq!(job.clone().max_attempts(0).max_attempts, 1);
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(job.due_at(now), now);
    }
}
