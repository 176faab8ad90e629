//! [`JobQueue`] in process memory: the jobs of the embedded mode, run by the same worker
//! runtime and handlers as in production.
//!
//! One lock guards every job, so a claim — pick the due jobs, mark them running — is as
//! atomic as PostgreSQL's one statement, and concurrent claims never share a job. Jobs
//! are lost with the process: the durability of the outbox needs the PostgreSQL queue.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain_core::StoreError;
use domain_jobs::{Enqueued, Job, JobCounts, JobQueue, JobStatus, NewJob};
use uuid::Uuid;

use crate::{lock, stored};

/// The jobs, by id, and the dedupe keys they hold.
#[derive(Default)]
struct State {
    jobs: HashMap<Uuid, Job>,
    keys: HashMap<String, Uuid>,
}

/// [`JobQueue`] in process memory.
#[derive(Default)]
pub struct MemoryJobQueue {
    state: Mutex<State>,
    /// Rung on every enqueue (see [`MemoryJobQueue::wakeups`]).
    wake: std::sync::Arc<tokio::sync::Notify>,
}

impl MemoryJobQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rung whenever a job is stored: give it to a worker (`WorkerConfig::wake`) so it
    /// claims at once rather than at its next poll.
    pub fn wakeups(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// [`JobQueue::enqueue`] without the `async`: what the memory outbox calls while a
    /// repository's own lock is held, so a change and its events are stored together.
    pub(crate) fn insert(&self, job: NewJob, now: DateTime<Utc>) -> Enqueued {
        let mut s = lock(&self.state);
        if let Some(key) = &job.dedupe_key
            && let Some(id) = s.keys.get(key)
        {
            return Enqueued {
                id: *id,
                fresh: false,
            };
        }
        let id = Uuid::new_v4();
        let now = stored(now);
        if let Some(key) = &job.dedupe_key {
            s.keys.insert(key.clone(), id);
        }
        let mut queued = job.queued(id, now);
        queued.run_at = stored(queued.run_at);
        s.jobs.insert(id, queued);
        drop(s);
        // a permit if no worker waits right now: the next wait returns at once
        self.wake.notify_one();
        Enqueued { id, fresh: true }
    }
}

impl std::fmt::Debug for MemoryJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryJobQueue")
            .field("jobs", &lock(&self.state).jobs.len())
            .finish()
    }
}

/// Whether `job` is claimable at `now`: PostgreSQL's claim condition.
fn due(job: &Job, now: DateTime<Utc>) -> bool {
    match job.status {
        JobStatus::Queued => job.run_at <= now,
        JobStatus::Running => {
            job.run_at <= now && job.locked_until.is_some_and(|until| until < now)
        }
        JobStatus::Done | JobStatus::Dead => false,
    }
}

/// The job `id` if it is running under `worker`'s lease.
fn held<'a>(state: &'a mut State, id: Uuid, worker: &str) -> Option<&'a mut Job> {
    state
        .jobs
        .get_mut(&id)
        .filter(|j| j.status == JobStatus::Running && j.locked_by.as_deref() == Some(worker))
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued, StoreError> {
        Ok(self.insert(job, now))
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let now = stored(now);
        let mut s = lock(&self.state);
        let mut picked: Vec<(DateTime<Utc>, Uuid)> = s
            .jobs
            .values()
            .filter(|j| due(j, now))
            .map(|j| (j.run_at, j.id))
            .collect();
        picked.sort_unstable();
        picked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut claimed = Vec::with_capacity(picked.len());
        for (_, id) in picked {
            if let Some(job) = s.jobs.get_mut(&id) {
                job.status = JobStatus::Running;
                job.locked_by = Some(worker.to_owned());
                job.locked_until = Some(stored(now + lease));
                job.attempts = job.attempts.saturating_add(1);
                job.updated_at = now;
                claimed.push(job.clone());
            }
        }
        Ok(claimed)
    }

    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(job) = held(&mut s, id, worker) else {
            return Ok(false);
        };
        job.status = JobStatus::Done;
        job.locked_until = None;
        job.updated_at = stored(now);
        Ok(true)
    }

    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(job) = held(&mut s, id, worker) else {
            return Ok(false);
        };
        match retry_at {
            Some(at) => {
                job.status = JobStatus::Queued;
                job.run_at = stored(at);
            }
            None => job.status = JobStatus::Dead,
        }
        job.locked_until = None;
        job.last_error = Some(error.to_owned());
        job.updated_at = stored(now);
        Ok(true)
    }

    async fn extend(
        &self,
        id: Uuid,
        worker: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(job) = held(&mut s, id, worker) else {
            return Ok(false);
        };
        job.locked_until = Some(stored(until));
        Ok(true)
    }

    async fn counts(&self, now: DateTime<Utc>) -> Result<JobCounts, StoreError> {
        let now = stored(now);
        let s = lock(&self.state);
        let mut c = JobCounts::default();
        for job in s.jobs.values() {
            match job.status {
                JobStatus::Queued => {
                    c.queued += 1;
                    if job.run_at > now {
                        c.scheduled += 1;
                    }
                }
                JobStatus::Running => {
                    c.running += 1;
                    if job.locked_until.is_some_and(|until| until < now) {
                        c.stalled += 1;
                    }
                }
                JobStatus::Done => c.done += 1,
                JobStatus::Dead => c.dead += 1,
            }
        }
        Ok(c)
    }

    async fn list(
        &self,
        status: Option<JobStatus>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let s = lock(&self.state);
        let cursor = match after {
            Some(id) => match s.jobs.get(&id) {
                Some(j) => Some((j.created_at, j.id)),
                // As in PostgreSQL: a page after a job that is gone is empty.
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut page: Vec<&Job> = s
            .jobs
            .values()
            .filter(|j| status.is_none_or(|st| j.status == st))
            .filter(|j| cursor.is_none_or(|c| (j.created_at, j.id) < c))
            .collect();
        // Newest first; Uuid's order is PostgreSQL's (bytewise).
        page.sort_unstable_by_key(|j| std::cmp::Reverse((j.created_at, j.id)));
        Ok(page
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        Ok(lock(&self.state).jobs.get(&id).cloned())
    }

    async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(job) = s.jobs.get_mut(&id).filter(|j| j.status == JobStatus::Dead) else {
            return Ok(false);
        };
        let now = stored(now);
        job.status = JobStatus::Queued;
        job.attempts = 0;
        job.run_at = now;
        job.updated_at = now;
        Ok(true)
    }

    async fn purge_done(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let older_than = stored(older_than);
        let mut s = lock(&self.state);
        let gone: Vec<(Uuid, Option<String>)> = s
            .jobs
            .values()
            .filter(|j| j.status == JobStatus::Done && j.updated_at < older_than)
            .map(|j| (j.id, j.dedupe_key.clone()))
            .collect();
        for (id, key) in &gone {
            s.jobs.remove(id);
            if let Some(key) = key {
                s.keys.remove(key);
            }
        }
        Ok(u64::try_from(gone.len()).unwrap_or(u64::MAX))
    }
}
