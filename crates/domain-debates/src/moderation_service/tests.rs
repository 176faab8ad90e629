//! Unit tests of [`ModerationService`] against mockall mocks of its ports (strict: an
//! unexpected port call panics, so "nothing was stored" is asserted by not expecting it).
//!
//! Each action's event is handed to the moderation store with the action, which records
//! it in the same transaction only if the action took effect; the expectations below
//! mimic that and push what they record into the harness's `seen` events. What the
//! service publishes after the commit lands in the harness's `published` events.

use std::sync::Mutex;

use chrono::TimeZone;
use domain_core::events::MockEventPublisher;
use domain_core::{DomainEvent, ManualClock};

use super::*;
use crate::moderation::MockModerationRepository;
use crate::ports::MockDebateRepository;
use crate::{Participant, Removal, Side};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

const SCOPE: &str = "institution:7d1b5c0e-8a51-4a3e-9d0f-1f2e3d4c5b6a";

fn session(id: Uuid, status: SessionStatus) -> DebateSession {
    DebateSession {
        id,
        topic_id: Uuid::from_u128(1),
        scope: SCOPE.into(),
        visibility: Default::default(),
        title: "Round 1".into(),
        scheduled_start: now(),
        scheduled_end: None,
        max_per_side: None,
        status,
        created_by: None,
        created_at: now(),
        started_at: None,
        closed_at: None,
        voting_window_seconds: 600,
        voting_closes_at: None,
    }
}

fn message(session_id: Uuid, seq: i64, author: Uuid, removed: Option<Removal>) -> Message {
    Message {
        session_id,
        seq,
        author_id: author,
        side: Side::Pro,
        body: "text".into(),
        reply_to: None,
        created_at: now(),
        removed,
    }
}

type Seen = Arc<Mutex<Vec<DomainEvent>>>;

struct Harness {
    debates: MockDebateRepository,
    repo: MockModerationRepository,
    /// The events the store recorded with the actions that took effect.
    seen: Seen,
    /// The events the service published after a commit.
    published: Seen,
}

impl Harness {
    fn new() -> Self {
        Self {
            debates: MockDebateRepository::new(),
            repo: MockModerationRepository::new(),
            seen: Arc::default(),
            published: Arc::default(),
        }
    }

    /// A handle on [`Harness::seen`] for a repository expectation to record into.
    fn recorder(&self) -> Seen {
        self.seen.clone()
    }

    fn session_is(&mut self, found: Option<DebateSession>) {
        self.debates
            .expect_session()
            .returning(move |_| Ok(found.clone()));
    }

    fn build(self) -> (ModerationService, Seen) {
        let mut publisher = MockEventPublisher::new();
        let published = self.published.clone();
        publisher.expect_publish().returning(move |e| {
            published.lock().unwrap().push(e);
            Ok(())
        });
        (
            ModerationService::new(
                Arc::new(self.debates),
                Arc::new(self.repo),
                Arc::new(ManualClock::new(now())),
            )
            .with_events(Arc::new(publisher)),
            self.seen,
        )
    }
}

/// Records `events`, handed with an action that took effect, into `seen`.
fn record(seen: &Seen, events: &[DomainEvent]) {
    seen.lock().unwrap().extend(events.to_vec());
}

/// The published events, decoded: what a consumer of the live events reads.
fn typed(published: &Seen) -> Vec<DebateEvent> {
    published
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.decode::<DebateEvent>().unwrap())
        .collect()
}

/// The recorded events, decoded.
fn recorded(seen: &Seen) -> Vec<DebateEvent> {
    typed(seen)
}

fn names(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

#[tokio::test]
async fn mute_stores_the_mute_with_its_action_and_records_it() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Live)));
    let stored: Arc<Mutex<Vec<(Mute, ModerationAction)>>> = Arc::default();
    let s = stored.clone();
    let rec = h.recorder();
    h.repo
        .expect_mute()
        .times(1)
        .returning(move |m, a, events| {
            s.lock().unwrap().push((m, a));
            record(&rec, events);
            Ok(())
        });
    let published = h.published.clone();
    let (svc, seen) = h.build();
    let action = svc
        .mute(actor, id, target, Some(300), Some("  calm down  "))
        .await
        .unwrap();
    let until = now() + Duration::seconds(300);
    let (m, a) = stored.lock().unwrap()[0].clone();
    assert_eq!(a, action);
    assert_eq!(
        m,
        Mute {
            session_id: id,
            user_id: target,
            until: Some(until),
            reason: Some("calm down".into()),
            muted_by: actor,
            muted_at: now(),
        }
    );
    assert_eq!(
        (a.kind, a.actor_id, a.target_user_id, a.scope.as_str()),
        (ActionKind::Mute, actor, Some(target), SCOPE)
    );
    assert_eq!((a.duration_seconds, a.expires_at), (Some(300), Some(until)));
    assert_eq!(names(&seen), ["debates.participant_muted"]);
    let e = seen.lock().unwrap()[0].clone();
    assert_eq!(e.aggregate_id, id);
    assert_eq!(e.payload["target_user_id"], target.to_string());
    assert_eq!(e.payload["until"], serde_json::to_value(until).unwrap());
    // The rooms hear of it after the commit: the very event recorded in the outbox.
    assert_eq!(
        typed(&published),
        [DebateEvent::ParticipantMuted(ModerationNotice {
            action_id: action.id,
            session_id: id,
            scope: SCOPE.into(),
            actor_id: actor,
            target_user_id: Some(target),
            seq: None,
            reason: Some("calm down".into()),
            until: Some(until),
        })]
    );
    assert_eq!(*published.lock().unwrap(), *seen.lock().unwrap());
}

#[tokio::test]
async fn mute_rules() {
    let (actor, target, live, closed, missing) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let mut h = Harness::new();
    h.debates.expect_session().returning(move |id| {
        Ok(if id == live {
            Some(session(live, SessionStatus::Live))
        } else if id == closed {
            Some(session(closed, SessionStatus::Closed))
        } else {
            None
        })
    });
    // An unknown target: the store's foreign key.
    h.repo
        .expect_mute()
        .returning(|_, _, _| Err(StoreError::NotFound));
    let published = h.published.clone();
    let (svc, seen) = h.build();
    let e = svc.mute(actor, live, actor, None, None).await.unwrap_err();
    assert!(matches!(e, DebateError::NotAllowed(_)), "{e:?}");
    for bad in [0, -5, MUTE_MAX_SECONDS + 1] {
        let e = svc
            .mute(actor, live, target, Some(bad), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DebateError::Invalid { field, .. } if field == "duration_seconds"),
            "{e:?}"
        );
    }
    for bad in ["x".repeat(REASON_MAX_CHARS + 1), "a\u{1b}[31m".to_owned()] {
        let e = svc
            .mute(actor, live, target, None, Some(&bad))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DebateError::Invalid { field, .. } if field == "reason"),
            "{e:?}"
        );
    }
    let e = svc
        .mute(actor, closed, target, None, None)
        .await
        .unwrap_err();
    assert!(matches!(&e, DebateError::Conflict(m) if m == "session is closed"));
    let e = svc
        .mute(actor, missing, target, None, None)
        .await
        .unwrap_err();
    assert!(matches!(&e, DebateError::NotFound(w) if w == "session"));
    let e = svc
        .mute(actor, live, target, Some(MUTE_MAX_SECONDS), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DebateError::NotFound(w) if w == "user"),
        "{e:?}"
    );
    assert!(names(&seen).is_empty());
    assert!(
        typed(&published).is_empty(),
        "a refused mute publishes nothing"
    );
}

#[tokio::test]
async fn unmute_records_only_a_lifted_mute() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Closed)));
    let answers = Arc::new(Mutex::new(vec![false, true]));
    let rec = h.recorder();
    h.repo
        .expect_unmute()
        .withf(|_, events| events.len() == 1)
        .times(2)
        .returning(move |_, events| {
            // Not muted (the second time): nothing changed, so nothing is recorded.
            let lifted = answers.lock().unwrap().pop().unwrap();
            if lifted {
                record(&rec, events);
            }
            Ok(lifted)
        });
    let published = h.published.clone();
    let (svc, seen) = h.build();
    let a = svc.unmute(actor, id, target).await.unwrap();
    assert_eq!(
        (a.kind, a.target_user_id),
        (ActionKind::Unmute, Some(target))
    );
    let e = svc.unmute(actor, id, target).await.unwrap_err();
    assert!(
        matches!(&e, DebateError::Conflict(m) if m == "user is not muted"),
        "{e:?}"
    );
    assert_eq!(names(&seen), ["debates.participant_unmuted"]);
    // Published once: for the mute lifted, not for the refused second call.
    let got = typed(&published);
    let [DebateEvent::ParticipantUnmuted(notice)] = got.as_slice() else {
        panic!("expected one unmuted event, got {:?}", typed(&published));
    };
    assert_eq!(
        (notice.action_id, notice.target_user_id),
        (a.id, Some(target))
    );
    assert_eq!(typed(&published), recorded(&seen));
}

#[tokio::test]
async fn remove_once_and_not_in_closed_sessions() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Live)));
    let answers = Arc::new(Mutex::new(vec![false, true]));
    let seat = Participant {
        session_id: id,
        user_id: target,
        side: Side::Con,
        joined_at: now() - Duration::minutes(5),
        left_at: None,
    };
    // Seated before the first removal; the second finds the seat closed already.
    let seats = Arc::new(Mutex::new(vec![None, Some(seat.clone())]));
    h.debates
        .expect_seat()
        .withf(move |s, u| (*s, *u) == (id, target))
        .times(2)
        .returning(move |_, _| Ok(seats.lock().unwrap().pop().unwrap()));
    let rec = h.recorder();
    h.repo
        .expect_remove_participant()
        .withf(|_, events| events.len() == 1)
        .times(2)
        .returning(move |_, events| {
            // Removed already (the second time): nothing changed, nothing recorded.
            let removed = answers.lock().unwrap().pop().unwrap();
            if removed {
                record(&rec, events);
            }
            Ok(removed)
        });
    let published = h.published.clone();
    let (svc, seen) = h.build();
    let a = svc.remove(actor, id, target, None).await.unwrap();
    assert_eq!((a.kind, a.reason), (ActionKind::Remove, None));
    let e = svc.remove(actor, id, target, None).await.unwrap_err();
    assert!(matches!(e, DebateError::Conflict(_)), "{e:?}");
    let e = svc.remove(target, id, target, None).await.unwrap_err();
    assert!(matches!(e, DebateError::NotAllowed(_)), "{e:?}");
    assert_eq!(names(&seen), ["debates.participant_removed"]);
    // The removal, then the seat it closed (left when the moderator acted); nothing
    // for the refused calls.
    let removed = recorded(&seen).remove(0);
    assert!(
        matches!(&removed, DebateEvent::ParticipantRemoved(n) if n.action_id == a.id),
        "{removed:?}"
    );
    let left = DebateEvent::SeatLeft {
        participant: Participant {
            left_at: Some(a.created_at),
            ..seat
        },
    };
    assert_eq!(typed(&published), [removed, left]);
}

#[tokio::test]
async fn removing_someone_without_a_seat_publishes_no_seat_left() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Scheduled)));
    h.debates.expect_seat().times(1).returning(|_, _| Ok(None));
    h.repo
        .expect_remove_participant()
        .times(1)
        .returning(|_, _| Ok(true));
    let published = h.published.clone();
    let (svc, _) = h.build();
    let a = svc.remove(actor, id, target, Some("spam")).await.unwrap();
    let got = typed(&published);
    let [DebateEvent::ParticipantRemoved(notice)] = got.as_slice() else {
        panic!("expected only the removal, got {:?}", typed(&published));
    };
    assert_eq!(
        (notice.action_id, notice.reason.as_deref()),
        (a.id, Some("spam"))
    );
}

#[tokio::test]
async fn warnings_need_a_reason() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Closed)));
    let rec = h.recorder();
    h.repo.expect_warn().times(1).returning(move |_, events| {
        record(&rec, events);
        Ok(())
    });
    let published = h.published.clone();
    let (svc, seen) = h.build();
    for bad in ["", "   "] {
        let e = svc.warn(actor, id, target, bad).await.unwrap_err();
        assert!(
            matches!(&e, DebateError::Invalid { field, .. } if field == "reason"),
            "{e:?}"
        );
    }
    let a = svc.warn(actor, id, target, " Stay civil ").await.unwrap();
    assert_eq!(a.reason.as_deref(), Some("Stay civil"));
    assert_eq!(names(&seen), ["debates.participant_warned"]);
    let got = typed(&published);
    let [DebateEvent::ParticipantWarned(notice)] = got.as_slice() else {
        panic!("expected one warning, got {:?}", typed(&published));
    };
    assert_eq!(
        (notice.action_id, notice.reason.as_deref()),
        (a.id, Some("Stay civil"))
    );
    assert_eq!(typed(&published), recorded(&seen));
}

#[tokio::test]
async fn remove_message_rules() {
    let (actor, author, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Live)));
    h.debates.expect_message().returning(move |s, seq| {
        Ok(match seq {
            1 => Some(message(s, 1, author, None)),
            2 => Some(message(
                s,
                2,
                author,
                Some(Removal {
                    at: now(),
                    by: Uuid::new_v4(),
                    reason: None,
                }),
            )),
            _ => None,
        })
    });
    let rec = h.recorder();
    h.repo
        .expect_remove_message()
        .times(1)
        .returning(move |a, events| {
            assert_eq!(
                (a.kind, a.target_seq, a.target_user_id),
                (ActionKind::RemoveMessage, Some(1), Some(author))
            );
            let mut m = message(a.session_id, 1, author, None);
            m.removed = Some(Removal {
                at: a.created_at,
                by: a.actor_id,
                reason: a.reason.clone(),
            });
            record(&rec, events);
            Ok(MessageRemoval::Removed(m))
        });
    let published = h.published.clone();
    let (svc, seen) = h.build();
    let m = svc
        .remove_message(actor, id, 1, Some("off topic"))
        .await
        .unwrap();
    assert_eq!(m.removed.unwrap().reason.as_deref(), Some("off topic"));
    let e = svc.remove_message(actor, id, 2, None).await.unwrap_err();
    assert!(matches!(e, DebateError::Conflict(_)), "{e:?}");
    let e = svc.remove_message(actor, id, 3, None).await.unwrap_err();
    assert!(
        matches!(&e, DebateError::NotFound(w) if w == "message"),
        "{e:?}"
    );
    assert_eq!(names(&seen), ["debates.message_removed"]);
    let got = typed(&published);
    let [DebateEvent::MessageRemoved(notice)] = got.as_slice() else {
        panic!("expected one removal, got {:?}", typed(&published));
    };
    assert_eq!(
        (notice.seq, notice.target_user_id, notice.reason.as_deref()),
        (Some(1), Some(author), Some("off topic"))
    );
    assert_eq!(typed(&published), recorded(&seen));
}

/// An action handed to the store with the events handed along.
type Handed = (ModerationAction, Vec<DomainEvent>);

#[tokio::test]
async fn mute_hands_exactly_one_muted_event_with_the_action_to_the_store() {
    let (actor, target, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut h = Harness::new();
    h.session_is(Some(session(id, SessionStatus::Live)));
    let handed: Arc<Mutex<Vec<Handed>>> = Arc::default();
    let s = handed.clone();
    h.repo
        .expect_mute()
        .times(1)
        .returning(move |_, a, events| {
            s.lock().unwrap().push((a, events.to_vec()));
            Ok(())
        });
    let (svc, _) = h.build();
    let action = svc
        .mute(actor, id, target, None, Some("spam"))
        .await
        .unwrap();
    let handed = handed.lock().unwrap();
    let (a, events) = &handed[0];
    assert_eq!(
        *a, action,
        "the action the service returns is the one stored"
    );
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.name, "debates.participant_muted");
    assert_eq!(e.aggregate_id, id);
    assert_eq!(e.occurred_at, action.created_at);
    assert_eq!(e.payload["action_id"], action.id.to_string());
    assert_eq!(e.payload["session_id"], id.to_string());
    assert_eq!(e.payload["scope"], SCOPE);
    assert_eq!(e.payload["actor_id"], actor.to_string());
    assert_eq!(e.payload["target_user_id"], target.to_string());
    assert_eq!(e.payload["reason"], "spam");
    assert_eq!(e.payload["until"], serde_json::Value::Null, "until lifted");
}

#[tokio::test]
async fn purging_mutes_asks_for_those_ended_before_now() {
    let mut h = Harness::new();
    h.repo
        .expect_purge_expired_mutes()
        .with(mockall::predicate::eq(now()))
        .times(1)
        .returning(|_| Ok(2));
    let (svc, seen) = h.build();
    assert_eq!(svc.purge_expired_mutes().await.unwrap(), 2);
    assert!(names(&seen).is_empty(), "housekeeping announces nothing");
}
