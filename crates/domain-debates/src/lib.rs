//! Debates for Agora: topics, sessions that go `scheduled → live → closed`, participants
//! on the pro or con side or in the audience, arguments kept in a per-session sequence,
//! and transcripts.
//!
//! Business rules only. Who may do what is decided by the RBAC engine in api-server; this
//! crate decides what is possible (a closed session takes no messages, a full side no
//! more debaters). Scopes are carried as their text form (`institution:{id}`, …) so this
//! crate does not depend on the RBAC domain.

pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod transcript;

pub use error::DebateError;
pub use model::{
    BODY_MAX_CHARS, DebateSession, Message, NewMessage, Participant, SessionStatus, Side, Topic,
};
pub use ports::{
    DebateRepository, JoinOutcome, MessageRange, RoomBus, RoomSink, RoomSubscription, SessionFilter,
};
pub use service::{
    DESCRIPTION_MAX_CHARS, DebateService, MAX_PER_SIDE_LIMIT, TITLE_MAX_CHARS, events,
};
pub use transcript::{Transcript, TranscriptFormat};
