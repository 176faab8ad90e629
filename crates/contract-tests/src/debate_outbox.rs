//! Contract of the transactional outbox of [`DebateRepository`] and
//! [`ModerationRepository`]: every write that is handed `events` records them — as
//! `events.dispatch` jobs on the queue that shares the store — exactly when its change
//! happens, and records none when it changes nothing or fails.

use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, DomainEvent};
use domain_debates::{
    ActionKind, DebateRepository, DebateSession, MessageRemoval, ModerationAction,
    ModerationRepository, Mute, SessionStatus, Topic,
};
use domain_identity::UserRepository;
use domain_jobs::{EVENT_DISPATCH, Job, JobQueue, JobStatus, event_of};
use uuid::Uuid;

use crate::debates::live_session;
use crate::{clock, existing_user, tag};

fn event(name: &str, aggregate: Uuid, at: DateTime<Utc>) -> DomainEvent {
    DomainEvent::new(
        name,
        aggregate,
        at,
        serde_json::json!({ "tag": tag(), "aggregate": aggregate }),
    )
}

/// The jobs recorded for `event`.
async fn recorded(queue: &dyn JobQueue, event: &DomainEvent) -> Vec<Job> {
    let key = format!("event:{}", event.id);
    queue
        .list(None, None, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.dedupe_key.as_deref() == Some(key.as_str()))
        .collect()
}

/// Asserts `event` was recorded once, as a due `events.dispatch` job carrying it.
async fn assert_recorded(queue: &dyn JobQueue, event: &DomainEvent) {
    let jobs = recorded(queue, event).await;
    assert_eq!(jobs.len(), 1, "{} recorded once: {jobs:?}", event.name);
    let job = &jobs[0];
    assert_eq!(job.kind, EVENT_DISPATCH);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.run_at, event.occurred_at, "due when it happened");
    assert_eq!(event_of(job).as_ref(), Ok(event), "the event, whole");
}

async fn assert_not_recorded(queue: &dyn JobQueue, event: &DomainEvent, why: &str) {
    let jobs = recorded(queue, event).await;
    assert!(jobs.is_empty(), "{why}: nothing recorded, got {jobs:?}");
}

fn topic(at: DateTime<Utc>) -> Topic {
    Topic {
        id: Uuid::new_v4(),
        title: format!("Outbox {}", tag()),
        description: String::new(),
        scope: format!("institution:{}", Uuid::new_v4()),
        visibility: Default::default(),
        created_by: None,
        created_at: at,
    }
}

fn action(
    kind: ActionKind,
    s: &DebateSession,
    actor: Uuid,
    target: Uuid,
    at: DateTime<Utc>,
) -> ModerationAction {
    ModerationAction {
        id: Uuid::new_v4(),
        session_id: s.id,
        scope: s.scope.clone(),
        actor_id: actor,
        target_user_id: Some(target),
        target_seq: None,
        kind,
        reason: Some("outbox contract".into()),
        duration_seconds: None,
        expires_at: None,
        created_at: at,
    }
}

/// Topics, sessions, updates and moves record their events with the change; a refused
/// or failed change records none.
pub async fn debate_changes_record_their_events(
    debates: &dyn DebateRepository,
    users: &dyn UserRepository,
    queue: &dyn JobQueue,
) {
    let now = clock().now();
    let t = topic(now);
    let created = event("debates.topic_created", t.id, now);
    debates
        .insert_topic(t.clone(), std::slice::from_ref(&created))
        .await
        .unwrap();
    assert_recorded(queue, &created).await;

    let again = event("debates.topic_created", t.id, now);
    assert!(
        debates
            .insert_topic(t.clone(), std::slice::from_ref(&again))
            .await
            .is_err()
    );
    assert_not_recorded(queue, &again, "a duplicate topic").await;

    let mut s = live_session(&t, now);
    s.created_by = Some(existing_user(users, now).await.0);
    let scheduled = event("debates.session_scheduled", s.id, now);
    debates
        .insert_session(s.clone(), std::slice::from_ref(&scheduled))
        .await
        .unwrap();
    assert_recorded(queue, &scheduled).await;

    let orphan = DebateSession {
        id: Uuid::new_v4(),
        topic_id: Uuid::new_v4(),
        ..s.clone()
    };
    let lost = event("debates.session_scheduled", orphan.id, now);
    assert!(
        debates
            .insert_session(orphan.clone(), std::slice::from_ref(&lost))
            .await
            .is_err()
    );
    assert_not_recorded(queue, &lost, "a session of no topic").await;

    let later = now + TimeDelta::seconds(5);
    let moved = DebateSession {
        scheduled_start: s.scheduled_start + TimeDelta::hours(2),
        ..s.clone()
    };
    let rescheduled = event("debates.session_rescheduled", s.id, later);
    debates
        .update_session(&moved, std::slice::from_ref(&rescheduled))
        .await
        .unwrap();
    assert_recorded(queue, &rescheduled).await;
    let nowhere = event("debates.session_rescheduled", orphan.id, later);
    assert!(
        debates
            .update_session(&orphan, std::slice::from_ref(&nowhere))
            .await
            .is_err()
    );
    assert_not_recorded(queue, &nowhere, "an update of no session").await;

    let closed = event("debates.session_closed", s.id, later);
    let moved = debates
        .transition(
            s.id,
            SessionStatus::Live,
            SessionStatus::Closed,
            later,
            std::slice::from_ref(&closed),
        )
        .await
        .unwrap();
    assert!(moved.is_some());
    assert_recorded(queue, &closed).await;
    let closed_twice = event("debates.session_closed", s.id, later);
    let moved = debates
        .transition(
            s.id,
            SessionStatus::Live,
            SessionStatus::Closed,
            later,
            std::slice::from_ref(&closed_twice),
        )
        .await
        .unwrap();
    assert!(moved.is_none());
    assert_not_recorded(queue, &closed_twice, "a move that did not happen").await;
}

/// Moderation writes record their events with the action; a write that records no
/// action (nothing to lift, no such message, an unknown target) records no event.
pub async fn moderation_actions_record_their_events(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
    queue: &dyn JobQueue,
) {
    let now = clock().now();
    let t = topic(now);
    debates.insert_topic(t.clone(), &[]).await.unwrap();
    let s = live_session(&t, now);
    debates.insert_session(s.clone(), &[]).await.unwrap();
    let (moderator, debater) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );

    let warned = action(ActionKind::Warn, &s, moderator, debater, now);
    let warning = event("debates.participant_warned", s.id, now);
    moderation
        .warn(warned, std::slice::from_ref(&warning))
        .await
        .unwrap();
    assert_recorded(queue, &warning).await;

    let nobody = action(ActionKind::Warn, &s, moderator, Uuid::new_v4(), now);
    let lost = event("debates.participant_warned", s.id, now);
    assert!(
        moderation
            .warn(nobody, std::slice::from_ref(&lost))
            .await
            .is_err()
    );
    assert_not_recorded(queue, &lost, "a warning to no account").await;

    let not_muted = event("debates.participant_unmuted", s.id, now);
    let lifted = moderation
        .unmute(
            action(ActionKind::Unmute, &s, moderator, debater, now),
            std::slice::from_ref(&not_muted),
        )
        .await
        .unwrap();
    assert!(!lifted);
    assert_not_recorded(queue, &not_muted, "an unmute with no mute").await;

    let muting = action(ActionKind::Mute, &s, moderator, debater, now);
    let mute = Mute {
        session_id: s.id,
        user_id: debater,
        until: None,
        reason: muting.reason.clone(),
        muted_by: moderator,
        muted_at: now,
    };
    let muted = event("debates.participant_muted", s.id, now);
    moderation
        .mute(mute, muting, std::slice::from_ref(&muted))
        .await
        .unwrap();
    assert_recorded(queue, &muted).await;

    let mut missing = action(ActionKind::RemoveMessage, &s, moderator, debater, now);
    missing.target_seq = Some(99);
    let lost = event("debates.message_removed", s.id, now);
    assert_eq!(
        moderation
            .remove_message(missing, std::slice::from_ref(&lost))
            .await
            .unwrap(),
        MessageRemoval::NoSuchMessage
    );
    assert_not_recorded(queue, &lost, "a removal of no message").await;
}
