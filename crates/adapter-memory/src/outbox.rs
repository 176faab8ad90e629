//! The memory mode's transactional outbox: repositories hand the events of a change to a
//! [`MemoryOutbox`], which stores them as `events.dispatch` jobs on the in-process queue
//! before the repository releases its lock, so no reader sees the change without its
//! events. Like every memory adapter it keeps nothing across a restart; the durable
//! outbox is PostgreSQL's.

use std::sync::Arc;

use domain_core::DomainEvent;
use domain_jobs::event_job;

use crate::MemoryJobQueue;

/// Where memory repositories record the events of their changes.
#[derive(Clone, Default)]
pub struct MemoryOutbox {
    /// `None`: events are dropped (a store used without a worker, as in some tests).
    queue: Option<Arc<MemoryJobQueue>>,
}

impl std::fmt::Debug for MemoryOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryOutbox")
            .field("queue", &self.queue.is_some())
            .finish()
    }
}

impl MemoryOutbox {
    /// An outbox that enqueues on `queue`.
    pub fn new(queue: Arc<MemoryJobQueue>) -> Self {
        Self { queue: Some(queue) }
    }

    /// Stores one `events.dispatch` job per event, due at once, unless it is stored
    /// already (the job is keyed by the event id).
    pub(crate) fn record(&self, events: &[DomainEvent]) {
        if let Some(queue) = &self.queue {
            for event in events {
                queue.insert(event_job(event), event.occurred_at);
            }
        }
    }
}
