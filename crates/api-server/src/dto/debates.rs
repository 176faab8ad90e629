//! Debates as clients see them (topics, sessions, seats, arguments, results), on REST
//! and on the sockets.

//! Request and response bodies of the debate endpoints.

use chrono::{DateTime, Utc};
use domain_debates::{DebateSession, Message, Participant, Results, Topic, Visibility};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A debate topic.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TopicDto {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Scope (`global`, `institution:{id}`, …).
    #[schemars(schema_with = "crate::http::schema::scope")]
    pub scope: String,
    /// Who may read it and its sessions.
    pub visibility: VisibilityDto,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Who may read a debate: `members` of its scope (and grant holders there; the default),
/// or the `public` (anybody, signed in or not; joining and voting still need membership).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VisibilityDto {
    /// The members of the scope.
    Members,
    /// Anybody.
    Public,
}

impl From<Visibility> for VisibilityDto {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Members => Self::Members,
            Visibility::Public => Self::Public,
        }
    }
}

impl From<VisibilityDto> for Visibility {
    fn from(v: VisibilityDto) -> Self {
        match v {
            VisibilityDto::Members => Self::Members,
            VisibilityDto::Public => Self::Public,
        }
    }
}

/// Body of `PUT /api/debates/topics/{id}/visibility/`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVisibilityRequest {
    /// The new visibility.
    pub visibility: VisibilityDto,
}

impl From<Topic> for TopicDto {
    fn from(t: Topic) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            scope: t.scope,
            visibility: t.visibility.into(),
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// A page of topics.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TopicPage {
    /// Ordered by id.
    pub items: Vec<TopicDto>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Creates a topic.
#[derive(Deserialize, JsonSchema)]
pub struct CreateTopicRequest {
    /// 1–200 characters.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::title")]
    pub title: String,
    /// Up to 10 000 characters.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::description")]
    pub description: String,
    /// Where it belongs: `global`, `institution:{id}`, `campus:{id}` or `department:{id}`.
    #[schemars(schema_with = "crate::http::schema::scope")]
    pub scope: String,
}

/// Updates a topic.
#[derive(Deserialize, JsonSchema)]
pub struct UpdateTopicRequest {
    /// New title, 1–200 characters.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::title")]
    pub title: String,
    /// New description (absent: empty).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::description")]
    pub description: String,
}

/// A debate session.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionDto {
    /// Id.
    pub id: Uuid,
    /// Topic.
    pub topic_id: Uuid,
    /// Who may read it (its topic's visibility).
    pub visibility: VisibilityDto,
    /// Scope (the topic's).
    #[schemars(schema_with = "crate::http::schema::scope")]
    pub scope: String,
    /// Title.
    pub title: String,
    /// `scheduled`, `live` or `closed`.
    #[schemars(schema_with = "crate::http::schema::session_status")]
    pub status: String,
    /// Planned start.
    pub scheduled_start: DateTime<Utc>,
    /// Planned end.
    pub scheduled_end: Option<DateTime<Utc>>,
    /// Most debaters per side.
    pub max_per_side: Option<u32>,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it went live.
    pub started_at: Option<DateTime<Utc>>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// How long voting stays open after the session closes, in seconds.
    pub voting_window_seconds: u32,
    /// When voting closes (set when the session closes).
    pub voting_closes_at: Option<DateTime<Utc>>,
}

impl From<DebateSession> for SessionDto {
    fn from(s: DebateSession) -> Self {
        Self {
            id: s.id,
            topic_id: s.topic_id,
            scope: s.scope,
            visibility: s.visibility.into(),
            title: s.title,
            status: s.status.as_str().into(),
            scheduled_start: s.scheduled_start,
            scheduled_end: s.scheduled_end,
            max_per_side: s.max_per_side,
            created_by: s.created_by,
            created_at: s.created_at,
            started_at: s.started_at,
            closed_at: s.closed_at,
            voting_window_seconds: s.voting_window_seconds,
            voting_closes_at: s.voting_closes_at,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionPage {
    /// Ordered by id.
    pub items: Vec<SessionDto>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Schedules a session of a topic.
#[derive(Deserialize, JsonSchema)]
pub struct CreateSessionRequest {
    /// The topic.
    pub topic_id: Uuid,
    /// 1–200 characters.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::title")]
    pub title: String,
    /// Planned start.
    #[schemars(schema_with = "crate::http::schema::date_time")]
    pub scheduled_start: DateTime<Utc>,
    /// Planned end (after the start).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::date_time_or_null")]
    pub scheduled_end: Option<DateTime<Utc>>,
    /// Most debaters per side (1–100); none for no limit.
    #[schemars(range(min = 1, max = 100))]
    pub max_per_side: Option<u32>,
    /// How long voting stays open once the session closes (10 s – 7 days; default 600).
    #[schemars(range(min = 10, max = 604_800))]
    pub voting_window_seconds: Option<u32>,
}

/// Changes a session (only while scheduled or live). Absent fields stay as they are.
#[derive(Deserialize, JsonSchema)]
pub struct UpdateSessionRequest {
    /// New title.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::title_or_null")]
    pub title: Option<String>,
    /// New planned start.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::date_time_or_null")]
    pub scheduled_start: Option<DateTime<Utc>>,
    /// New planned end (`null` removes it).
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(schema_with = "crate::http::schema::date_time_or_null")]
    pub scheduled_end: Option<Option<DateTime<Utc>>>,
    /// New side limit (`null` removes it).
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub max_per_side: Option<Option<u32>>,
    /// New voting window, in seconds (10 s – 7 days).
    #[schemars(range(min = 10, max = 604_800))]
    pub voting_window_seconds: Option<u32>,
}

/// Distinguishes an absent field (no change) from an explicit `null` (clear it).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Takes a seat.
#[derive(Deserialize, JsonSchema)]
pub struct JoinRequest {
    /// `pro`, `con` or `audience`.
    #[schemars(schema_with = "crate::http::schema::side")]
    pub side: String,
}

/// A seat.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantDto {
    /// User.
    pub user_id: Uuid,
    /// `pro`, `con` or `audience`.
    #[schemars(schema_with = "crate::http::schema::side")]
    pub side: String,
    /// Joined at.
    pub joined_at: DateTime<Utc>,
    /// Left at.
    pub left_at: Option<DateTime<Utc>>,
}

impl From<Participant> for ParticipantDto {
    fn from(p: Participant) -> Self {
        Self {
            user_id: p.user_id,
            side: p.side.as_str().into(),
            joined_at: p.joined_at,
            left_at: p.left_at,
        }
    }
}

/// A page of seats.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantPage {
    /// Ordered by user id.
    pub items: Vec<ParticipantDto>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// An argument.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct MessageDto {
    /// Position in the session (1, 2, 3, …).
    pub seq: i64,
    /// Author.
    pub author_id: Uuid,
    /// `pro` or `con`.
    #[schemars(schema_with = "crate::http::schema::debating_side")]
    pub side: String,
    /// Text; for a removed message, `[removed by a moderator]` (moderators see the
    /// original).
    pub body: String,
    /// Answered message.
    pub reply_to: Option<i64>,
    /// When stored.
    pub created_at: DateTime<Utc>,
    /// Set when a moderator removed the message.
    pub removed: Option<RemovalDto>,
}

/// A moderator's removal of a message.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RemovalDto {
    /// When.
    pub at: DateTime<Utc>,
    /// The moderator.
    pub by: Uuid,
    /// Why, if they said.
    pub reason: Option<String>,
}

impl MessageDto {
    /// The message as moderators see it: a removed message keeps its text.
    pub fn revealed(m: Message) -> Self {
        Self {
            seq: m.seq,
            author_id: m.author_id,
            side: m.side.as_str().into(),
            body: m.body,
            reply_to: m.reply_to,
            created_at: m.created_at,
            removed: m.removed.map(|r| RemovalDto {
                at: r.at,
                by: r.by,
                reason: r.reason,
            }),
        }
    }

    /// The message as `reveal` decides: as moderators see it, or with a removed
    /// message's text withdrawn.
    pub fn shown(m: Message, reveal: bool) -> Self {
        if reveal {
            Self::revealed(m)
        } else {
            Self::from(m)
        }
    }
}

impl From<Message> for MessageDto {
    /// The message as everybody sees it: a removed message's text is withdrawn.
    fn from(m: Message) -> Self {
        let mut dto = Self::revealed(m);
        if dto.removed.is_some() {
            domain_debates::transcript::REMOVED_TEXT.clone_into(&mut dto.body);
        }
        dto
    }
}

/// A window of arguments.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct MessagePage {
    /// Ascending by `seq`.
    pub items: Vec<MessageDto>,
    /// `after` value for the next (newer) page, when this one was full.
    pub next_after: Option<i64>,
    /// `before` value for the previous (older) page, when there may be one.
    pub prev_before: Option<i64>,
}

/// Sends an argument.
#[derive(Deserialize, JsonSchema)]
pub struct PostMessageRequest {
    /// 1–5000 characters.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::argument_body")]
    pub body: String,
    /// Sequence number of the argument answered.
    #[schemars(range(min = 1))]
    pub reply_to: Option<i64>,
}

/// Votes for one argument.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ArgumentVotesDto {
    /// The argument.
    pub seq: i64,
    /// Votes.
    pub votes: u64,
}

/// The results of a session's vote.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ResultsDto {
    /// The session.
    pub session_id: Uuid,
    /// Votes for pro on the winner ballot.
    pub pro: u64,
    /// Votes for con.
    pub con: u64,
    /// Votes per argument, most first.
    pub arguments: Vec<ArgumentVotesDto>,
    /// `pro` or `con`; absent on a tie or without votes.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::debating_side_or_null")]
    pub winner: Option<String>,
    /// The best argument; absent on a tie or without votes.
    pub best_argument: Option<i64>,
    /// Distinct voters.
    pub turnout: u64,
    /// Distinct users who took a seat (any side) in the session.
    pub eligible: u64,
    /// When voting opened (the session closed).
    pub voting_opens_at: Option<DateTime<Utc>>,
    /// When it closes.
    pub voting_closes_at: Option<DateTime<Utc>>,
    /// Whether votes are accepted now.
    pub open: bool,
}

impl From<Results> for ResultsDto {
    fn from(r: Results) -> Self {
        Self {
            session_id: r.session_id,
            pro: r.tally.pro,
            con: r.tally.con,
            arguments: r
                .tally
                .arguments
                .into_iter()
                .map(|a| ArgumentVotesDto {
                    seq: a.seq,
                    votes: a.votes,
                })
                .collect(),
            winner: r.winner.map(|s| s.as_str().to_owned()),
            best_argument: r.best_argument,
            turnout: r.tally.turnout,
            eligible: r.tally.eligible,
            voting_opens_at: r.voting_opens_at,
            voting_closes_at: r.voting_closes_at,
            open: r.open,
        }
    }
}
