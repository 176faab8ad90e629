//! The [`JobQueue`] port: durable storage of jobs and the claim protocol that lets many
//! workers, on many machines, share one queue.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain_core::StoreError;
use uuid::Uuid;

use crate::model::{Enqueued, Job, JobCounts, JobStatus, NewJob};

/// Durable job storage with leases.
///
/// Delivery is at least once: a worker that dies mid-run loses its lease when
/// `locked_until` passes and the job is claimed again, so handlers must be idempotent.
/// Two workers never hold the same job at the same time, and a worker whose lease was
/// taken over can no longer change the job (`complete`, `fail` and `extend` answer
/// `false`). Worker names must therefore be unique among running workers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Stores `job` as [`JobStatus::Queued`], due at `job.run_at` or `now`. A job whose
    /// dedupe key is already held by a stored job (whatever its status) is not stored:
    /// the answer names the existing job with `fresh: false`.
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued, StoreError>;

    /// Takes up to `limit` jobs that are due — queued with `run_at <= now`, or running
    /// with a lease that expired before `now` — oldest `run_at` first (then by id),
    /// marks them
    /// running for `worker` until `now + lease`, counts one more attempt, and returns
    /// them as updated. Concurrent claims never return the same job.
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Marks the job done, if it is still running under `worker`'s lease; `false`
    /// otherwise (the lease was taken over, or the job is not running).
    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records a failed run, if the job is still running under `worker`'s lease: back to
    /// queued until `retry_at`, or [`JobStatus::Dead`] when `retry_at` is `None`.
    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Moves the end of `worker`'s lease on the job to `until` (a heartbeat for long
    /// runs); `false` when the job is no longer running under `worker`.
    async fn extend(
        &self,
        id: Uuid,
        worker: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// How many jobs are in each state at `now`.
    async fn counts(&self, now: DateTime<Utc>) -> Result<JobCounts, StoreError>;

    /// Up to `limit` jobs, newest first (`created_at`, then id, descending), optionally
    /// of one status, starting after the job `after` (keyset paging: pass the last id of
    /// the previous page). A page after a job that no longer exists is empty.
    async fn list(
        &self,
        status: Option<JobStatus>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// One job.
    async fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Puts a dead job back in the queue, due at `now` with its attempts reset to 0;
    /// `false` when the job is not dead.
    async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Deletes done jobs last changed before `older_than`; returns how many. Their dedupe
    /// keys are released with them.
    async fn purge_done(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError>;
}
