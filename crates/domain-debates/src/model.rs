//! Topics, sessions, participants and messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest argument accepted, in characters.
pub const BODY_MAX_CHARS: usize = 5_000;

/// Length of a session's voting window when none is chosen: ten minutes.
pub const VOTING_WINDOW_DEFAULT_SECONDS: u32 = 600;
/// Shortest voting window a session may set: ten seconds (a quick show of hands at the
/// end of a class).
pub const VOTING_WINDOW_MIN_SECONDS: u32 = 10;
/// Longest voting window a session may set: seven days.
pub const VOTING_WINDOW_MAX_SECONDS: u32 = 7 * 24 * 3600;

/// Who may read a debate: what happens inside an institution is private to its people
/// unless the institution opens it to the public.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The members of the topic's scope and the holders of a grant there (the default).
    #[default]
    Members,
    /// Anybody, signed in or not, may read it (joining and voting still need membership).
    Public,
}

impl Visibility {
    /// Text form, as stored and sent: `members` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Public => "public",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "members" => Some(Self::Members),
            "public" => Some(Self::Public),
            _ => None,
        }
    }

    /// Whether anybody may read it.
    pub fn is_public(self) -> bool {
        self == Self::Public
    }
}

/// A debate topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Id.
    pub id: Uuid,
    /// Title (1–200 characters).
    pub title: String,
    /// Description (up to 10 000 characters).
    pub description: String,
    /// Scope text (`global`, `institution:{id}`, …) the topic and its sessions belong to.
    pub scope: String,
    /// Who may read the topic and its sessions.
    pub visibility: Visibility,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Lifecycle of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Announced, not started.
    Scheduled,
    /// Running: debaters may send arguments.
    Live,
    /// Over.
    Closed,
}

impl SessionStatus {
    /// Text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Live => "live",
            Self::Closed => "closed",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "live" => Some(Self::Live),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A debate session of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebateSession {
    /// Id.
    pub id: Uuid,
    /// Topic.
    pub topic_id: Uuid,
    /// Scope, copied from the topic.
    pub scope: String,
    /// Who may read it: the topic's visibility, kept in step with it.
    pub visibility: Visibility,
    /// Title (1–200 characters).
    pub title: String,
    /// Planned start.
    pub scheduled_start: DateTime<Utc>,
    /// Planned end, if any.
    pub scheduled_end: Option<DateTime<Utc>>,
    /// Most debaters per side, if limited.
    pub max_per_side: Option<u32>,
    /// Lifecycle state.
    pub status: SessionStatus,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it went live.
    pub started_at: Option<DateTime<Utc>>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// How long voting stays open after the close, in seconds
    /// ([`VOTING_WINDOW_MIN_SECONDS`]`..=`[`VOTING_WINDOW_MAX_SECONDS`]).
    pub voting_window_seconds: u32,
    /// When voting ends: set by the close of a live session to `closed_at +
    /// voting_window_seconds`, so a later change of the window does not move a window
    /// already open. `None` until then, and for a session cancelled before it started.
    pub voting_closes_at: Option<DateTime<Utc>>,
}

/// Where a participant sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Arguing for.
    Pro,
    /// Arguing against.
    Con,
    /// Watching; may not send arguments.
    Audience,
}

impl Side {
    /// Text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pro => "pro",
            Self::Con => "con",
            Self::Audience => "audience",
        }
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pro" => Some(Self::Pro),
            "con" => Some(Self::Con),
            "audience" => Some(Self::Audience),
            _ => None,
        }
    }

    /// Whether this seat argues (pro or con).
    pub fn is_debater(self) -> bool {
        !matches!(self, Self::Audience)
    }
}

/// A user's seat in a session. Leaving sets `left_at`; joining again opens a new seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Session.
    pub session_id: Uuid,
    /// User.
    pub user_id: Uuid,
    /// Seat.
    pub side: Side,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// When they left, if they did.
    pub left_at: Option<DateTime<Utc>>,
}

/// An argument, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Session.
    pub session_id: Uuid,
    /// Position in the session, from 1, without gaps, assigned atomically on store.
    pub seq: i64,
    /// Author.
    pub author_id: Uuid,
    /// Author's side when sending (pro or con).
    pub side: Side,
    /// Text.
    pub body: String,
    /// The message answered, by sequence number.
    pub reply_to: Option<i64>,
    /// When stored.
    pub created_at: DateTime<Utc>,
    /// Set when a moderator removed it: the text is kept (moderators may read it) but
    /// shown to everyone else as removed.
    pub removed: Option<Removal>,
}

/// A moderator's removal of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// When.
    pub at: DateTime<Utc>,
    /// The moderator.
    pub by: Uuid,
    /// Why, if they said.
    pub reason: Option<String>,
}

/// An argument to store; the repository assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Session.
    pub session_id: Uuid,
    /// Author.
    pub author_id: Uuid,
    /// Author's side.
    pub side: Side,
    /// Text (already validated).
    pub body: String,
    /// Answered message.
    pub reply_to: Option<i64>,
    /// When.
    pub created_at: DateTime<Utc>,
}
