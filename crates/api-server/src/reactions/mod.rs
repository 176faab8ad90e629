//! Reactions to domain events, wired in `api-server` so that no domain crate calls
//! another.
//!
//! Services hand their events to the store with the change; the store records each as
//! an `events.dispatch` job in the same transaction (the transactional outbox, decision
//! D19). A worker claims the job after the commit — on any instance, after any crash —
//! and [`DispatchEvents`] decodes the event into the typed enum of the domain that
//! announced it ([`KnownEvent`]) and hands it to every [`EventSubscriber`] that wants it.
//! Delivery is at least once: a failed subscriber fails the job, which is retried with
//! backoff, and every subscriber is idempotent (what it creates is keyed by the event,
//! the action or the session), so a second run repeats nothing. An event that does not
//! decode — a name no enum knows, a version this server does not read, a payload without
//! the fields its name promises — cannot succeed on a retry: its job goes straight to the
//! dead-letter state, with the decoding error as the reason.
//!
//! | event | subscriber | effect |
//! |---|---|---|
//! | `debates.participant_*`, `debates.message_removed` | [`ModerationNotifier`] | the target is told |
//! | `debates.session_scheduled` | [`ScheduleNotifier`] | members of the session's unit (and the units in it) are told |
//! | `debates.session_rescheduled` | [`ScheduleNotifier`] | the session's participants are told |
//! | `debates.session_closed` | [`ResultsScheduler`] | a `debates.publish_results` job is due when voting ends; it tells everyone who took part (left or not) |
//! | `rbac.role_granted` | [`RoleNotifier`] | the user is told |

mod moderation;
mod notifier;
mod results;
mod roles;
mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use domain_core::{DomainEvent, EventDecodeError, TypedEvent};
use domain_debates::DebateEvent;
use domain_identity::IdentityEvent;
use domain_jobs::{EVENT_DISPATCH, Job, JobError, JobHandler, JobQueue, event_of};
use domain_notifications::NotificationEvent;
use domain_rbac::RbacEvent;

pub use moderation::ModerationNotifier;
pub use notifier::Notifier;
pub use results::{PUBLISH_RESULTS, PublishResults, ResultsScheduler};
pub use roles::RoleNotifier;
pub use schedule::ScheduleNotifier;

/// An event decoded into the typed enum of the domain crate that announced it.
#[derive(Debug, Clone, PartialEq)]
pub enum KnownEvent {
    /// Topics, sessions, seats, arguments, moderation, votes.
    Debates(DebateEvent),
    /// Role grants.
    Rbac(RbacEvent),
    /// Accounts.
    Identity(IdentityEvent),
    /// Stored notifications.
    Notifications(NotificationEvent),
}

impl KnownEvent {
    /// The typed event in `envelope`, read by the enum whose names include the
    /// envelope's.
    ///
    /// # Errors
    /// [`EventDecodeError`]: a name no enum knows, another version than the one this
    /// server reads, or a payload without the fields the name promises.
    pub fn decode(envelope: &DomainEvent) -> Result<Self, EventDecodeError> {
        if envelope.is::<DebateEvent>() {
            envelope.decode().map(Self::Debates)
        } else if envelope.is::<RbacEvent>() {
            envelope.decode().map(Self::Rbac)
        } else if envelope.is::<IdentityEvent>() {
            envelope.decode().map(Self::Identity)
        } else if envelope.is::<NotificationEvent>() {
            envelope.decode().map(Self::Notifications)
        } else {
            let known = [
                DebateEvent::NAMES,
                RbacEvent::NAMES,
                IdentityEvent::NAMES,
                NotificationEvent::NAMES,
            ]
            .concat()
            .join(", ");
            Err(EventDecodeError::Unknown {
                name: envelope.name.clone(),
                known,
            })
        }
    }

    /// The event's dotted name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Debates(e) => e.name(),
            Self::Rbac(e) => e.name(),
            Self::Identity(e) => e.name(),
            Self::Notifications(e) => e.name(),
        }
    }
}

/// Something that reacts to domain events.
#[async_trait]
pub trait EventSubscriber: Send + Sync {
    /// Whether it reacts to `event` (a match on the typed variants, so a renamed event
    /// cannot silently stop a reaction).
    fn wants(&self, event: &KnownEvent) -> bool;

    /// Reacts to one event: `event` is what the `envelope` carries, decoded. It may run
    /// more than once for the same event (a retried job), so it must be idempotent.
    ///
    /// # Errors
    /// Whatever kept it from reacting; the event's job is then retried.
    async fn handle(&self, envelope: &DomainEvent, event: &KnownEvent) -> Result<(), String>;
}

/// Why an event was not handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The envelope does not decode: no retry can help.
    #[error("{0}")]
    Undecodable(#[from] EventDecodeError),
    /// Subscribers failed (their errors, joined); a retry may help.
    #[error("{0}")]
    Failed(String),
}

/// The subscribers, and the dispatch of one event to those that want it.
#[derive(Default, Clone)]
pub struct EventDispatcher {
    subscribers: Vec<Arc<dyn EventSubscriber>>,
}

impl EventDispatcher {
    /// A dispatcher with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    #[must_use]
    pub fn with(mut self, subscriber: Arc<dyn EventSubscriber>) -> Self {
        self.subscribers.push(subscriber);
        self
    }

    /// Decodes `event`, then hands it to every subscriber that wants it — all of them,
    /// even after one failed, so one broken reaction does not starve the others. Every
    /// event is decoded, wanted or not, so an event nobody can read is never dropped in
    /// silence.
    ///
    /// # Errors
    /// [`DispatchError::Undecodable`] when the envelope does not decode (nobody ran);
    /// [`DispatchError::Failed`] with the failures, joined: the caller retries the whole
    /// event (the subscribers that succeeded are idempotent).
    pub async fn dispatch(&self, event: &DomainEvent) -> Result<(), DispatchError> {
        let typed = KnownEvent::decode(event)?;
        let mut failures = Vec::new();
        for subscriber in self.subscribers.iter().filter(|s| s.wants(&typed)) {
            if let Err(e) = subscriber.handle(event, &typed).await {
                tracing::warn!(event = %event.name, event_id = %event.id, error = %e, "an event subscriber failed");
                failures.push(e);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(DispatchError::Failed(failures.join("; ")))
        }
    }
}

/// Runs `events.dispatch` jobs: the relay of the outbox.
pub struct DispatchEvents {
    dispatcher: Arc<EventDispatcher>,
}

#[async_trait]
impl JobHandler for DispatchEvents {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let event = event_of(job)?;
        self.dispatcher
            .dispatch(&event)
            .await
            .map_err(|e| match e {
                DispatchError::Undecodable(why) => {
                    tracing::error!(event = %event.name, event_id = %event.id, error = %why, "an event cannot be read; its job is given up");
                    JobError::Permanent(why.to_string())
                }
                DispatchError::Failed(why) => JobError::Retry(why),
            })
    }
}

/// Every reaction, ready to be registered with the worker.
#[derive(Clone)]
pub struct Reactions {
    dispatcher: Arc<EventDispatcher>,
    results: Arc<PublishResults>,
}

/// What the reactions read and where they write.
pub struct ReactionDeps {
    /// Notifications (and the e-mails they ask for).
    pub notifier: Notifier,
    /// Sessions and their participants.
    pub debates: domain_debates::DebateService,
    /// Results of closed sessions.
    pub voting: domain_debates::VotingService,
    /// Units and their members.
    pub org: domain_org::OrgService,
    /// Where follow-up jobs are enqueued.
    pub queue: Arc<dyn JobQueue>,
    /// The time.
    pub clock: Arc<dyn domain_core::Clock>,
}

impl Reactions {
    /// The reactions of the table in the module documentation.
    pub fn new(deps: ReactionDeps) -> Self {
        let dispatcher = EventDispatcher::new()
            .with(Arc::new(ModerationNotifier::new(
                deps.notifier.clone(),
                deps.debates.clone(),
            )))
            .with(Arc::new(ScheduleNotifier::new(
                deps.notifier.clone(),
                deps.debates.clone(),
                deps.org,
            )))
            .with(Arc::new(ResultsScheduler::new(deps.queue, deps.clock)))
            .with(Arc::new(RoleNotifier::new(deps.notifier.clone())));
        Self {
            dispatcher: Arc::new(dispatcher),
            results: Arc::new(PublishResults::new(
                deps.notifier,
                deps.debates,
                deps.voting,
            )),
        }
    }

    /// The job handlers: `events.dispatch` and `debates.publish_results`.
    pub fn handlers(&self) -> HashMap<String, Arc<dyn JobHandler>> {
        let mut map: HashMap<String, Arc<dyn JobHandler>> = HashMap::new();
        map.insert(
            EVENT_DISPATCH.into(),
            Arc::new(DispatchEvents {
                dispatcher: self.dispatcher.clone(),
            }),
        );
        map.insert(PUBLISH_RESULTS.into(), self.results.clone());
        map
    }
}

/// Longest quoted title in a notification's title, so the whole fits in
/// [`domain_notifications::TITLE_MAX_CHARS`].
const QUOTED_TITLE_CHARS: usize = domain_notifications::TITLE_MAX_CHARS - 50;

/// `title`, shortened with an ellipsis to fit in a notification's title.
pub(crate) fn quoted(title: &str) -> String {
    if title.chars().count() <= QUOTED_TITLE_CHARS {
        return title.to_owned();
    }
    let mut short: String = title.chars().take(QUOTED_TITLE_CHARS - 1).collect();
    short.push('…');
    short
}

/// How instants read in notifications.
pub(crate) fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How many recipients are read per page.
const RECIPIENT_PAGE: u32 = 200;

/// Every page of a listing by user id: `page(after)` gives the users after `after`.
async fn every_user<F, Fut>(mut page: F) -> Result<Vec<uuid::Uuid>, domain_debates::DebateError>
where
    F: FnMut(Option<uuid::Uuid>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<uuid::Uuid>, domain_debates::DebateError>>,
{
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let next = page(after).await?;
        let full = next.len() == RECIPIENT_PAGE as usize;
        after = next.last().copied();
        users.extend(next);
        if !full {
            return Ok(users);
        }
    }
}

/// The active participants of a session (seated now), every page of them.
pub(crate) async fn participants_of(
    debates: &domain_debates::DebateService,
    session: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, domain_debates::DebateError> {
    every_user(|after| async move {
        let seats = debates.participants(session, after, RECIPIENT_PAGE).await?;
        Ok(seats.into_iter().map(|p| p.user_id).collect())
    })
    .await
}

/// Everyone who ever had a seat in a session (left or not), every page of them.
pub(crate) async fn took_part_in(
    debates: &domain_debates::DebateService,
    session: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, domain_debates::DebateError> {
    every_user(|after| debates.took_part(session, after, RECIPIENT_PAGE)).await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;

    struct Recorder {
        name: &'static str,
        fail: bool,
        seen: Mutex<Vec<Uuid>>,
    }

    #[async_trait]
    impl EventSubscriber for Recorder {
        fn wants(&self, event: &KnownEvent) -> bool {
            event.name() == self.name
        }
        async fn handle(&self, event: &DomainEvent, _: &KnownEvent) -> Result<(), String> {
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(event.id);
            if self.fail {
                Err("down".into())
            } else {
                Ok(())
            }
        }
    }

    fn recorder(name: &'static str, fail: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            name,
            fail,
            seen: Mutex::default(),
        })
    }

    const WARNED: &str = "debates.participant_warned";
    const GRANTED: &str = "rbac.role_granted";

    /// A warning, as the moderation service records it.
    fn warned() -> DomainEvent {
        let notice = domain_debates::ModerationNotice {
            action_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            scope: "global".into(),
            actor_id: Uuid::new_v4(),
            target_user_id: Some(Uuid::new_v4()),
            seq: None,
            reason: Some("Stay civil".into()),
            until: None,
        };
        DomainEvent::of(
            &DebateEvent::ParticipantWarned(notice),
            chrono::DateTime::UNIX_EPOCH,
        )
    }

    #[tokio::test]
    async fn every_interested_subscriber_runs_even_after_a_failure() {
        let (broken, fine, other) = (
            recorder(WARNED, true),
            recorder(WARNED, false),
            recorder(GRANTED, false),
        );
        let dispatcher = EventDispatcher::new()
            .with(broken.clone())
            .with(fine.clone())
            .with(other.clone());
        let event = warned();
        assert_eq!(
            dispatcher.dispatch(&event).await,
            Err(DispatchError::Failed("down".into()))
        );
        assert_eq!(fine.seen.lock().unwrap_or_else(|p| p.into_inner()).len(), 1);
        assert!(
            other
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        );
    }

    /// The job the outbox would have recorded for `event`, run by the relay.
    async fn run(dispatcher: EventDispatcher, event: &DomainEvent) -> Result<(), JobError> {
        let mut job =
            domain_jobs::event_job(event).queued(Uuid::new_v4(), chrono::DateTime::UNIX_EPOCH);
        job.status = domain_jobs::JobStatus::Running;
        job.attempts = 1;
        DispatchEvents {
            dispatcher: Arc::new(dispatcher),
        }
        .handle(&job)
        .await
    }

    /// The reason a job carrying `event` is given up with; nobody may have run.
    async fn dead_reason(event: &DomainEvent) -> String {
        let subscriber = recorder(WARNED, false);
        let dispatcher = EventDispatcher::new().with(subscriber.clone());
        let outcome = run(dispatcher, event).await;
        assert!(
            subscriber
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty(),
            "no subscriber runs on an event that does not decode"
        );
        match outcome {
            Err(JobError::Permanent(why)) => why,
            other => panic!("expected a dead job, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_decodable_event_reaches_its_subscriber_typed() {
        let event = warned();
        let subscriber = recorder(WARNED, false);
        let dispatcher = EventDispatcher::new().with(subscriber.clone());
        assert_eq!(run(dispatcher, &event).await, Ok(()));
        assert_eq!(
            *subscriber.seen.lock().unwrap_or_else(|p| p.into_inner()),
            [event.id]
        );
        assert!(matches!(
            KnownEvent::decode(&event),
            Ok(KnownEvent::Debates(DebateEvent::ParticipantWarned(_)))
        ));
    }

    #[tokio::test]
    async fn an_event_of_an_unknown_name_is_a_dead_job_that_says_so() {
        let mut event = warned();
        event.name = "debates.participant_teleported".into();
        let why = dead_reason(&event).await;
        assert!(
            why.contains("unknown event \"debates.participant_teleported\"")
                && why.contains(WARNED)
                && why.contains(GRANTED),
            "{why}"
        );
    }

    #[tokio::test]
    async fn an_event_of_another_version_is_a_dead_job_that_says_so() {
        let mut event = warned();
        event.version = 2;
        let why = dead_reason(&event).await;
        assert_eq!(
            why,
            format!("event \"{WARNED}\" is version 2; this server reads version 1")
        );
    }

    #[tokio::test]
    async fn an_event_with_a_bad_field_is_a_dead_job_that_names_it() {
        let mut event = warned();
        event.payload["action_id"] = serde_json::json!("not an id");
        let why = dead_reason(&event).await;
        assert!(
            why.contains(&format!(
                "event \"{WARNED}\" (version 1) has a malformed payload"
            )) && why.contains("UUID"),
            "{why}"
        );
        let mut event = warned();
        let _ = event
            .payload
            .as_object_mut()
            .map(|fields| fields.remove("session_id"));
        let why = dead_reason(&event).await;
        assert!(why.contains("missing field `session_id`"), "{why}");
    }

    #[tokio::test]
    async fn events_queued_before_typing_still_dispatch() {
        // As the outbox recorded it before events were typed: no tag, no version.
        let event = DomainEvent::new(
            GRANTED,
            Uuid::from_u128(2),
            chrono::DateTime::UNIX_EPOCH,
            serde_json::json!({
                "assignment_id": Uuid::from_u128(1), "user_id": Uuid::from_u128(2),
                "role": "teacher", "scope": "global", "granted_by": null, "expires_at": null,
            }),
        );
        let subscriber = recorder(GRANTED, false);
        let dispatcher = EventDispatcher::new().with(subscriber.clone());
        assert_eq!(run(dispatcher, &event).await, Ok(()));
        assert_eq!(
            subscriber
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            1
        );
    }

    #[test]
    fn long_titles_are_shortened_to_fit() {
        let title = quoted(&"x".repeat(400));
        assert!(title.chars().count() <= QUOTED_TITLE_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(quoted("Short"), "Short");
    }
}
