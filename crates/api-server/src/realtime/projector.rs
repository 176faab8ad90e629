//! The one publish path: committed domain events in, real-time frames out.
//!
//! Services hand their events to an [`EventPublisher`] after the change commits; the
//! [`Projector`] is that publisher. It reads each event as its domain's typed enum,
//! turns it into the [`ServerFrame`] of the topic it concerns and publishes the frame on
//! the [`TopicBus`], where every instance's subscribed sockets receive it. Handlers never
//! publish: they call a service and return its result.
//!
//! | event | topic | frame |
//! |---|---|---|
//! | `debates.argument_posted` | `debate:{session}` | `message.created` |
//! | `debates.seat_taken` / `seat_left` | `debate:{session}` | `participant.joined` / `participant.left` |
//! | `debates.session_started` / `session_closed` | `debate:{session}` | `session.status` |
//! | `debates.participant_muted` / `unmuted` / `removed` / `warned` | `debate:{session}` | `moderation.*` (to the target and moderators) |
//! | `debates.message_removed` | `debate:{session}` | `message.removed` |
//! | `debates.vote_cast` | `debate:{session}` | `vote.tally`, coalesced over [`TALLY_COALESCE`] |
//! | `notifications.created` | `user:{user}` | `notification.created` |
//!
//! A frame that cannot be published (the bus is down) is logged: the change itself is
//! stored, and clients catch up — rooms from storage by `seq`, notifications from the
//! list.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use domain_core::{DomainEvent, EventPublisher, StoreError, TopicBus};
use domain_debates::{DebateEvent, VotingService};
use domain_notifications::{NotificationEvent, NotificationStore};
use uuid::Uuid;

use super::Topic;
use super::backfill::message_frame;
use super::frames::ServerFrame;
use crate::dto::debates::{ParticipantDto, ResultsDto};
use crate::dto::notifications::NotificationDto;

/// How long after a vote its room's `vote.tally` frame goes out; votes meanwhile are in
/// the same frame.
pub const TALLY_COALESCE: Duration = Duration::from_millis(500);

/// Turns committed events into frames on the topic bus. Cheap to clone.
#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<dyn TopicBus>,
    /// Counts unread notifications when the event does not carry the count.
    notifications: Arc<dyn NotificationStore>,
    /// Reads a room's tally; set once the voting service (which publishes through this
    /// projector) exists.
    voting: OnceLock<VotingService>,
    /// Rooms with a `vote.tally` frame scheduled.
    tallying: Mutex<HashSet<Uuid>>,
}

impl Projector {
    /// A projector publishing on `bus`.
    pub fn new(bus: Arc<dyn TopicBus>, notifications: Arc<dyn NotificationStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                notifications,
                voting: OnceLock::new(),
                tallying: Mutex::default(),
            }),
        }
    }

    /// Gives the projector the voting service it reads tallies from (built after it,
    /// since the voting service publishes through it).
    pub fn read_tallies_from(&self, voting: VotingService) {
        let _ = self.inner.voting.set(voting);
    }

    async fn send(&self, topic: Topic, frame: &ServerFrame) -> Result<(), StoreError> {
        self.inner
            .bus
            .publish(&topic.to_string(), frame.to_text())
            .await
    }

    async fn debate(&self, event: DebateEvent) -> Result<(), StoreError> {
        let Some(session_id) = event.session_id() else {
            return Ok(());
        };
        let room = Topic::Debate(session_id);
        let topic = room.to_string();
        let frame = match event {
            DebateEvent::ArgumentPosted { message } => message_frame(message),
            DebateEvent::SeatTaken { participant } => ServerFrame::ParticipantJoined {
                topic,
                participant: ParticipantDto::from(participant),
            },
            DebateEvent::SeatLeft { participant } => ServerFrame::ParticipantLeft {
                topic,
                participant: ParticipantDto::from(participant),
            },
            DebateEvent::SessionStarted { .. } => ServerFrame::SessionStatus {
                topic,
                status: "live".into(),
            },
            DebateEvent::SessionClosed { .. } => ServerFrame::SessionStatus {
                topic,
                status: "closed".into(),
            },
            DebateEvent::ParticipantMuted(n) => ServerFrame::ModerationMuted {
                topic,
                target: n.target_user_id,
                until: n.until,
                reason: n.reason,
            },
            DebateEvent::ParticipantUnmuted(n) => ServerFrame::ModerationUnmuted {
                topic,
                target: n.target_user_id,
            },
            DebateEvent::ParticipantRemoved(n) => ServerFrame::ModerationRemoved {
                topic,
                target: n.target_user_id,
                reason: n.reason,
            },
            DebateEvent::ParticipantWarned(n) => ServerFrame::ModerationWarning {
                topic,
                target: n.target_user_id,
                reason: n.reason,
            },
            DebateEvent::MessageRemoved(n) => match n.seq {
                Some(seq) => ServerFrame::MessageRemoved { topic, seq },
                None => return Ok(()),
            },
            DebateEvent::VoteCast { .. } => {
                self.schedule_tally(session_id);
                return Ok(());
            }
            // Nothing live to show: notifications and the lists cover them.
            DebateEvent::TopicCreated { .. }
            | DebateEvent::TopicVisibilityChanged { .. }
            | DebateEvent::SessionScheduled { .. }
            | DebateEvent::SessionRescheduled { .. } => return Ok(()),
        };
        self.send(room, &frame).await
    }

    /// Publishes the room's `vote.tally` after [`TALLY_COALESCE`], however many votes
    /// arrive meanwhile (one frame per instance and burst).
    fn schedule_tally(&self, session_id: Uuid) {
        let Some(voting) = self.inner.voting.get().cloned() else {
            return;
        };
        if !self
            .inner
            .tallying
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session_id)
        {
            return;
        }
        let projector = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TALLY_COALESCE).await;
            // Removed before reading, so a vote during the read schedules another frame.
            projector
                .inner
                .tallying
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&session_id);
            let room = Topic::Debate(session_id);
            let frame = match voting.results(session_id).await {
                Ok(r) => ServerFrame::VoteTally {
                    topic: room.to_string(),
                    results: ResultsDto::from(r),
                },
                Err(e) => {
                    tracing::warn!(%session_id, error = %e, "cannot read a session's tally");
                    return;
                }
            };
            if let Err(e) = projector.send(room, &frame).await {
                tracing::warn!(%session_id, error = %e, "could not publish a tally");
            }
        });
    }

    async fn notification(&self, event: NotificationEvent) -> Result<(), StoreError> {
        match event {
            NotificationEvent::Created {
                notification,
                unread,
            } => {
                let user = notification.user_id;
                let unread = match unread {
                    Some(n) => n,
                    None => self.inner.notifications.unread_count(user).await?,
                };
                let topic = Topic::User(user);
                let frame = ServerFrame::NotificationCreated {
                    topic: topic.to_string(),
                    notification: NotificationDto::from(notification),
                    unread,
                };
                self.send(topic, &frame).await
            }
        }
    }
}

#[async_trait::async_trait]
impl EventPublisher for Projector {
    async fn publish(&self, event: DomainEvent) -> Result<(), StoreError> {
        let outcome = if event.is::<DebateEvent>() {
            match event.decode::<DebateEvent>() {
                Ok(e) => self.debate(e).await,
                Err(e) => Err(StoreError::unexpected(e)),
            }
        } else if event.is::<NotificationEvent>() {
            match event.decode::<NotificationEvent>() {
                Ok(e) => self.notification(e).await,
                Err(e) => Err(StoreError::unexpected(e)),
            }
        } else {
            // Events of other domains have no live frame.
            Ok(())
        };
        if let Err(e) = &outcome {
            // Never silent: the change is stored, clients catch up, and this says why
            // the live frame is missing.
            tracing::warn!(event = %event.name, event_id = %event.id, error = %e, "no live frame for an event");
        }
        outcome
    }
}
