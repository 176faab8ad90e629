//! Debates for Agora: topics, sessions that go `scheduled → live → closed`, participants
//! on the pro or con side or in the audience, arguments kept in a per-session sequence,
//! and transcripts.
//!
//! Business rules only. Who may do what is decided by the RBAC engine in api-server; this
//! crate decides what is possible (a closed session takes no messages, a full side no
//! more debaters). Scopes are carried as their text form (`institution:{id}`, …) so this
//! crate does not depend on the RBAC domain.

pub mod analytics;
pub mod debate_event;
pub mod error;
pub mod model;
pub mod moderation;
pub mod moderation_service;
pub mod ports;
pub mod presence;
pub mod service;
pub mod transcript;
pub mod voting;
pub mod voting_service;

pub use analytics::{
    ActivityRollup, AnalyticsService, DAILY_DEFAULT_DAYS, DAILY_MAX_DAYS, DailyActivity, day_start,
};
pub use debate_event::{DebateEvent, ModerationNotice};
pub use error::DebateError;
pub use model::{
    BODY_MAX_CHARS, DebateSession, Message, NewMessage, Participant, Removal, SessionStatus, Side,
    Topic, VOTING_WINDOW_DEFAULT_SECONDS, VOTING_WINDOW_MAX_SECONDS, VOTING_WINDOW_MIN_SECONDS,
    Visibility,
};
pub use moderation::{
    ActionFilter, ActionKind, MessageRemoval, ModerationAction, ModerationRepository, Mute,
    ScopeRestriction,
};
pub use moderation_service::{
    MUTE_MAX_SECONDS, MUTE_MIN_SECONDS, ModerationService, REASON_MAX_CHARS,
};
pub use ports::{
    AppendOutcome, DebateRepository, JoinOutcome, MessageRange, SessionFilter, TopicFilter,
};
pub use presence::{PresenceEntry, PresenceStore, PresentUser};
pub use service::{DESCRIPTION_MAX_CHARS, DebateService, MAX_PER_SIDE_LIMIT, TITLE_MAX_CHARS};
pub use transcript::{REMOVED_TEXT, Transcript, TranscriptFormat};
pub use voting::{
    ArgumentVotes, Ballot, CastOutcome, Results, Tally, Vote, VoteChoice, VoteRepository,
};
pub use voting_service::{CastVote, VotingService};
