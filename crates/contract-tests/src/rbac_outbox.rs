//! Contract of the transactional outbox of [`RbacRepository::insert_assignment`]: the
//! events handed with an assignment are stored as `events.dispatch` jobs on the
//! [`JobQueue`] the repository was given, exactly when the assignment is.
//!
//! The queue may hold other jobs (a shared database, other contracts), so jobs are
//! found by the id of the event they carry, never by counting the queue.

use chrono::{DateTime, Duration, Utc};
use domain_core::{Clock, DomainEvent, StoreError};
use domain_identity::UserRepository;
use domain_jobs::{EVENT_DISPATCH, Job, JobQueue, JobStatus, event_of};
use domain_rbac::{AuditRecord, RbacEvent, RbacRepository, RoleAssignment, Scope};
use uuid::Uuid;

use crate::{clock, existing_user};

fn assignment(user_id: Uuid, role: &str, scope: Scope, at: DateTime<Utc>) -> RoleAssignment {
    RoleAssignment {
        id: Uuid::new_v4(),
        user_id,
        role: role.to_owned(),
        scope,
        expires_at: Some(at + Duration::days(7)),
        granted_by: None,
        granted_at: at,
    }
}

fn audit(actor: Uuid, a: &RoleAssignment) -> AuditRecord {
    AuditRecord {
        id: Uuid::new_v4(),
        at: a.granted_at,
        actor: Some(actor),
        action: "grant.create".into(),
        target: format!("user:{}", a.user_id),
        scope: Some(a.scope),
        before: None,
        after: None,
        request_id: None,
    }
}

/// The event the service hands with `a`.
fn granted(a: &RoleAssignment) -> DomainEvent {
    DomainEvent::of(&RbacEvent::role_granted(a), a.granted_at)
}

/// Every queued `events.dispatch` job carrying the event `id`, with the event; pages
/// through the whole queue, which may hold any number of other jobs.
async fn dispatches_of(queue: &dyn JobQueue, id: Uuid) -> Vec<(Job, DomainEvent)> {
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = queue
            .list(Some(JobStatus::Queued), after, 100)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        found.extend(
            page.into_iter()
                .filter(|j| j.kind == EVENT_DISPATCH)
                .filter_map(|j| event_of(&j).ok().map(|e| (j, e)))
                .filter(|(_, e)| e.id == id),
        );
    }
    found
}

/// The one job of `event`, checked to carry it unchanged and to be due at its time.
async fn the_dispatch_of(queue: &dyn JobQueue, event: &DomainEvent) -> Job {
    let mut found = dispatches_of(queue, event.id).await;
    assert_eq!(found.len(), 1, "one job for event {}", event.id);
    let (job, carried) = found.remove(0);
    assert_eq!(&carried, event, "the event survives the trip");
    assert_eq!(
        job.dedupe_key.as_deref(),
        Some(&*format!("event:{}", event.id))
    );
    assert_eq!(job.run_at, event.occurred_at, "due at once");
    job
}

/// A stored assignment records exactly one `events.dispatch` job per event handed with
/// it, carrying the event as given; an assignment handed no event records none.
pub async fn assignments_record_their_events(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
    queue: &dyn JobQueue,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let user = existing_user(users, now).await.0;
    let scope = Scope::Institution(Uuid::new_v4());

    let a = assignment(user, "teacher", scope, now);
    let event = granted(&a);
    repo.insert_assignment(a.clone(), audit(actor, &a), std::slice::from_ref(&event))
        .await
        .unwrap();
    assert_eq!(repo.assignment(a.id).await.unwrap(), Some(a.clone()));
    let job = the_dispatch_of(queue, &event).await;
    assert_eq!(
        event_of(&job).map(|e| e.decode::<RbacEvent>()),
        Ok(Ok(RbacEvent::role_granted(&a))),
        "the relay reads back the typed event the service handed"
    );

    // Several events: one job each.
    let b = assignment(user, "student", scope, now + Duration::seconds(1));
    let (first, second) = (granted(&b), granted(&b));
    repo.insert_assignment(
        b.clone(),
        audit(actor, &b),
        &[first.clone(), second.clone()],
    )
    .await
    .unwrap();
    the_dispatch_of(queue, &first).await;
    the_dispatch_of(queue, &second).await;

    // No events: the assignment alone (the command line's grants, some tests).
    let c = assignment(user, "staff", scope, now);
    let unrecorded = granted(&c);
    repo.insert_assignment(c.clone(), audit(actor, &c), &[])
        .await
        .unwrap();
    assert_eq!(repo.assignment(c.id).await.unwrap(), Some(c));
    assert!(dispatches_of(queue, unrecorded.id).await.is_empty());
    // The first event is still recorded once.
    the_dispatch_of(queue, &event).await;
}

/// An assignment the store refuses (a duplicate grant, a reused id, an unknown user or
/// granting user, an audit record whose id is taken) records none of its events.
pub async fn refused_assignments_record_no_event(
    repo: &dyn RbacRepository,
    users: &dyn UserRepository,
    queue: &dyn JobQueue,
) {
    let now = clock().now();
    let actor = Uuid::new_v4();
    let user = existing_user(users, now).await.0;
    let scope = Scope::Institution(Uuid::new_v4());
    let a = assignment(user, "teacher", scope, now);
    let stored = granted(&a);
    let first_audit = audit(actor, &a);
    repo.insert_assignment(
        a.clone(),
        first_audit.clone(),
        std::slice::from_ref(&stored),
    )
    .await
    .unwrap();

    let ghost = Uuid::new_v4();
    let refused: Vec<(&str, RoleAssignment, AuditRecord)> = {
        let same_grant = RoleAssignment {
            id: Uuid::new_v4(),
            ..a.clone()
        };
        let reused_id = RoleAssignment {
            scope: Scope::Global,
            ..a.clone()
        };
        let unknown_user = assignment(ghost, "teacher", scope, now);
        let unknown_granter = RoleAssignment {
            granted_by: Some(ghost),
            ..assignment(user, "parent", scope, now)
        };
        let taken_audit = assignment(user, "student", scope, now);
        vec![
            (
                "duplicate grant",
                same_grant.clone(),
                audit(actor, &same_grant),
            ),
            ("reused id", reused_id.clone(), audit(actor, &reused_id)),
            (
                "unknown user",
                unknown_user.clone(),
                audit(actor, &unknown_user),
            ),
            (
                "unknown granting user",
                unknown_granter.clone(),
                audit(actor, &unknown_granter),
            ),
            ("taken audit id", taken_audit, first_audit),
        ]
    };
    for (why, b, record) in refused {
        let event = granted(&b);
        let result = repo
            .insert_assignment(b.clone(), record, std::slice::from_ref(&event))
            .await;
        assert!(
            matches!(result, Err(StoreError::Duplicate(_) | StoreError::NotFound)),
            "{why}: expected a refusal, got {result:?}"
        );
        assert!(
            dispatches_of(queue, event.id).await.is_empty(),
            "{why}: no job for a refused assignment"
        );
        if why != "reused id" {
            assert_eq!(repo.assignment(b.id).await.unwrap(), None, "{why}");
        }
    }
    // What was stored before is untouched.
    the_dispatch_of(queue, &stored).await;
    assert_eq!(repo.assignment(a.id).await.unwrap(), Some(a));
}
