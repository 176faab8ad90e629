//! The events of the debates domain, as one typed enum shared by the services that
//! announce them, the outbox that records them and every consumer (notifications, the
//! real-time projector). Written into a [`domain_core::DomainEvent`] with
//! [`domain_core::DomainEvent::of`], read back with [`domain_core::DomainEvent::decode`].
//!
//! Two ways out of a service, one type: events whose reactions must not be lost
//! (scheduling, lifecycle, moderation) are recorded with the change (the transactional
//! outbox) *and* published after the commit for the live rooms; events that only inform
//! the rooms (an argument, a seat, a vote) are published after the commit only — a room
//! that misses one catches up from storage.

use chrono::{DateTime, Utc};
use domain_core::TypedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Ballot, Message, Participant, Side, Visibility};

/// What a moderation event says: the recorded action, in the words of the notification
/// and the room frame that follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationNotice {
    /// The recorded action.
    pub action_id: Uuid,
    /// The session acted in.
    pub session_id: Uuid,
    /// The session's scope (text form).
    pub scope: String,
    /// The moderator.
    pub actor_id: Uuid,
    /// The participant acted on (for a message removal, the message's author).
    pub target_user_id: Option<Uuid>,
    /// The message acted on, for a removal.
    pub seq: Option<i64>,
    /// Why, if the moderator said.
    pub reason: Option<String>,
    /// When a mute ends, if it has an end.
    pub until: Option<DateTime<Utc>>,
}

/// Every event of the debates domain. The serialised form is tagged with the event's
/// dotted name (`"event": "debates.argument_posted"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum DebateEvent {
    /// A topic was created; the aggregate is the topic.
    #[serde(rename = "debates.topic_created")]
    TopicCreated {
        /// The topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Its title.
        title: String,
        /// Its author (`None`: the command line).
        created_by: Option<Uuid>,
    },
    /// A topic (and its sessions) was opened to the public or closed to members again.
    #[serde(rename = "debates.topic_visibility_changed")]
    TopicVisibilityChanged {
        /// The topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Who may read it now.
        visibility: Visibility,
    },
    /// A session was scheduled.
    #[serde(rename = "debates.session_scheduled")]
    SessionScheduled {
        /// The session.
        session_id: Uuid,
        /// Its topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Its title.
        title: String,
        /// Planned start.
        scheduled_start: DateTime<Utc>,
        /// Planned end, if it has one.
        scheduled_end: Option<DateTime<Utc>>,
        /// Who scheduled it (`None`: the command line).
        created_by: Option<Uuid>,
    },
    /// A session's planned start or end changed.
    #[serde(rename = "debates.session_rescheduled")]
    SessionRescheduled {
        /// The session.
        session_id: Uuid,
        /// Its topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Its title.
        title: String,
        /// New planned start.
        scheduled_start: DateTime<Utc>,
        /// New planned end, if it has one.
        scheduled_end: Option<DateTime<Utc>>,
        /// Planned start before the change.
        previous_start: DateTime<Utc>,
        /// Planned end before the change, if it had one.
        previous_end: Option<DateTime<Utc>>,
    },
    /// A session went live.
    #[serde(rename = "debates.session_started")]
    SessionStarted {
        /// The session.
        session_id: Uuid,
        /// Its topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Its title.
        title: String,
        /// When.
        started_at: DateTime<Utc>,
    },
    /// A session was closed; voting runs until `voting_closes_at`.
    #[serde(rename = "debates.session_closed")]
    SessionClosed {
        /// The session.
        session_id: Uuid,
        /// Its topic.
        topic_id: Uuid,
        /// Its scope.
        scope: String,
        /// Its title.
        title: String,
        /// When.
        closed_at: DateTime<Utc>,
        /// End of the voting window.
        voting_closes_at: DateTime<Utc>,
    },
    /// A seat was taken (pro, con or audience).
    #[serde(rename = "debates.seat_taken")]
    SeatTaken {
        /// The seat.
        participant: Participant,
    },
    /// A seat was given up, or closed by a moderator's removal (`left_at` set).
    #[serde(rename = "debates.seat_left")]
    SeatLeft {
        /// The seat.
        participant: Participant,
    },
    /// An argument was stored with its sequence number.
    #[serde(rename = "debates.argument_posted")]
    ArgumentPosted {
        /// The argument as stored.
        message: Message,
    },
    /// A participant was muted (`until`: when it ends, `None` until lifted).
    #[serde(rename = "debates.participant_muted")]
    ParticipantMuted(ModerationNotice),
    /// A participant's mute was lifted.
    #[serde(rename = "debates.participant_unmuted")]
    ParticipantUnmuted(ModerationNotice),
    /// A participant was removed from the session for good.
    #[serde(rename = "debates.participant_removed")]
    ParticipantRemoved(ModerationNotice),
    /// A participant was warned.
    #[serde(rename = "debates.participant_warned")]
    ParticipantWarned(ModerationNotice),
    /// An argument was removed by a moderator (`seq`; the target is its author).
    #[serde(rename = "debates.message_removed")]
    MessageRemoved(ModerationNotice),
    /// A vote was cast or changed.
    #[serde(rename = "debates.vote_cast")]
    VoteCast {
        /// The session.
        session_id: Uuid,
        /// Its scope.
        scope: String,
        /// The voter.
        user_id: Uuid,
        /// The ballot.
        ballot: Ballot,
        /// The side chosen, on the winner ballot.
        side: Option<Side>,
        /// The argument chosen, on the best-argument ballot.
        seq: Option<i64>,
        /// Whether it replaced the voter's earlier vote.
        replaced: bool,
    },
}

impl DebateEvent {
    /// The session the event happened in, if it is about one.
    pub fn session_id(&self) -> Option<Uuid> {
        match self {
            Self::TopicCreated { .. } | Self::TopicVisibilityChanged { .. } => None,
            Self::SessionScheduled { session_id, .. }
            | Self::SessionRescheduled { session_id, .. }
            | Self::SessionStarted { session_id, .. }
            | Self::SessionClosed { session_id, .. }
            | Self::VoteCast { session_id, .. } => Some(*session_id),
            Self::SeatTaken { participant } | Self::SeatLeft { participant } => {
                Some(participant.session_id)
            }
            Self::ArgumentPosted { message } => Some(message.session_id),
            Self::ParticipantMuted(n)
            | Self::ParticipantUnmuted(n)
            | Self::ParticipantRemoved(n)
            | Self::ParticipantWarned(n)
            | Self::MessageRemoved(n) => Some(n.session_id),
        }
    }
}

impl TypedEvent for DebateEvent {
    const VERSION: u32 = 1;
    const NAMES: &'static [&'static str] = &[
        "debates.topic_created",
        "debates.topic_visibility_changed",
        "debates.session_scheduled",
        "debates.session_rescheduled",
        "debates.session_started",
        "debates.session_closed",
        "debates.seat_taken",
        "debates.seat_left",
        "debates.argument_posted",
        "debates.participant_muted",
        "debates.participant_unmuted",
        "debates.participant_removed",
        "debates.participant_warned",
        "debates.message_removed",
        "debates.vote_cast",
    ];

    fn name(&self) -> &'static str {
        match self {
            Self::TopicCreated { .. } => "debates.topic_created",
            Self::TopicVisibilityChanged { .. } => "debates.topic_visibility_changed",
            Self::SessionScheduled { .. } => "debates.session_scheduled",
            Self::SessionRescheduled { .. } => "debates.session_rescheduled",
            Self::SessionStarted { .. } => "debates.session_started",
            Self::SessionClosed { .. } => "debates.session_closed",
            Self::SeatTaken { .. } => "debates.seat_taken",
            Self::SeatLeft { .. } => "debates.seat_left",
            Self::ArgumentPosted { .. } => "debates.argument_posted",
            Self::ParticipantMuted(_) => "debates.participant_muted",
            Self::ParticipantUnmuted(_) => "debates.participant_unmuted",
            Self::ParticipantRemoved(_) => "debates.participant_removed",
            Self::ParticipantWarned(_) => "debates.participant_warned",
            Self::MessageRemoved(_) => "debates.message_removed",
            Self::VoteCast { .. } => "debates.vote_cast",
        }
    }

    fn aggregate_id(&self) -> Uuid {
        match self {
            Self::TopicCreated { topic_id, .. } | Self::TopicVisibilityChanged { topic_id, .. } => {
                *topic_id
            }
            // Every other event is about a session.
            other => other.session_id().unwrap_or_default(),
        }
    }
}
