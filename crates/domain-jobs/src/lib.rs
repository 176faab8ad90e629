//! Durable background jobs for Agora: the job model, the [`JobQueue`] port, retry
//! [`Backoff`], periodic jobs and the [`Worker`] runtime.
//!
//! Side effects of business changes (e-mails, notifications, cleanups) run as jobs. The
//! PostgreSQL queue can store a job in the transaction of the change that causes it (a
//! transactional outbox), so neither is kept without the other; workers claim jobs with
//! leases (`FOR UPDATE SKIP LOCKED` there), retry failures with exponential backoff and
//! jitter, and park jobs that keep failing in a dead-letter state for an operator.
//! Delivery is at least once: handlers must be idempotent.
//!
//! Business rules and the runtime only; the queues live in the adapter crates.

pub mod backoff;
pub mod model;
pub mod outbox;
pub mod ports;
pub mod worker;

pub use backoff::{Backoff, os_random};
pub use model::{DEFAULT_MAX_ATTEMPTS, Enqueued, Job, JobCounts, JobStatus, NewJob};
pub use outbox::{EVENT_DISPATCH, EVENT_MAX_ATTEMPTS, event_job, event_of};
pub use ports::JobQueue;
#[cfg(any(test, feature = "mocks"))]
pub use ports::MockJobQueue;
pub use worker::{
    ERROR_MAX_CHARS, JobError, JobHandler, Periodic, RandomSource, Worker, WorkerConfig,
};

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning: the guarded maps stay consistent whatever
/// panicked while holding them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
