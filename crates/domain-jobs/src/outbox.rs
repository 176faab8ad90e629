//! The transactional outbox: a domain event recorded by a store in the transaction of
//! the change it describes becomes an [`EVENT_DISPATCH`] job, so the change and the
//! promise to react to it commit together or not at all.
//!
//! This is the pattern of River and Oban ("transactional enqueueing"): the job table is
//! the outbox, and the workers that claim jobs with `FOR UPDATE SKIP LOCKED` are the
//! relay. Reactions therefore run at least once, after the commit, possibly on another
//! machine; each must be idempotent (key what it creates by the event's id).

use domain_core::DomainEvent;

use crate::model::{Job, NewJob};
use crate::worker::JobError;

/// Kind of the job that hands one recorded domain event to its reactions.
pub const EVENT_DISPATCH: &str = "events.dispatch";

/// Attempts of an event's dispatch: with the default backoff (10 s, doubling, capped)
/// the last comes hours after the first, enough to outlast an outage of what a reaction
/// needs (Redis, the mail relay).
pub const EVENT_MAX_ATTEMPTS: u32 = 12;

/// The job that dispatches `event`, keyed by the event's id so recording it twice stores
/// one job.
pub fn event_job(event: &DomainEvent) -> NewJob {
    // A DomainEvent is plain data (strings, a UUID, a time, JSON): serialising it
    // cannot fail, and a null payload would be refused loudly by `event_of` anyway.
    let payload = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    NewJob::new(EVENT_DISPATCH, payload)
        .dedupe_key(format!("event:{}", event.id))
        .max_attempts(EVENT_MAX_ATTEMPTS)
}

/// The event an [`EVENT_DISPATCH`] job carries.
///
/// # Errors
/// [`JobError::Permanent`] when the payload is not an event: retrying cannot fix it.
pub fn event_of(job: &Job) -> Result<DomainEvent, JobError> {
    serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload is not a domain event: {e}")))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;

    fn job_of(new: NewJob) -> Job {
        new.queued(Uuid::new_v4(), DateTime::UNIX_EPOCH)
    }

    #[test]
    fn an_event_survives_the_trip_through_a_job() {
        let event = DomainEvent::new(
            "debates.session_scheduled",
            Uuid::new_v4(),
            DateTime::UNIX_EPOCH,
            serde_json::json!({"scope": "global"}),
        );
        let job = event_job(&event);
        assert_eq!(job.kind, EVENT_DISPATCH);
        assert_eq!(
            job.dedupe_key.as_deref(),
            Some(&*format!("event:{}", event.id))
        );
        assert_eq!(event_of(&job_of(job)), Ok(event));
    }

    #[test]
    fn a_job_that_is_not_an_event_is_given_up() {
        let job = job_of(NewJob::new(EVENT_DISPATCH, serde_json::json!({"to": "x"})));
        assert!(matches!(event_of(&job), Err(JobError::Permanent(_))));
    }
}
