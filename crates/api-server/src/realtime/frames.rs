//! Every frame of the socket protocol, as Rust types: what the server sends
//! ([`ServerFrame`]) and what it accepts ([`ClientFrame`]). The server writes and reads
//! only these types, and the AsyncAPI document (`/api/asyncapi.json`) is generated from
//! them, so the document cannot drift from the server.
//!
//! Every frame about a topic names it in `topic`; frames about the connection itself
//! (`pong`, `auth.ok`, an `error` that concerns no topic) do not.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dto::debates::{MessageDto, ParticipantDto, ResultsDto};
use crate::dto::notifications::NotificationDto;

/// Someone arriving in or leaving a room, as shown to those who run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Visitor {
    /// The user.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
}

/// A user connected to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PresentUserDto {
    /// The user.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
    /// Their live connections to the room.
    pub connections: u32,
}

/// Who is in a room: for moderators and teachers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PresenceDetail {
    /// Whether `users` stops short of `count`.
    pub truncated: bool,
    /// Who is connected (up to a limit).
    pub users: Vec<PresentUserDto>,
    /// Who arrived since the last `presence` frame.
    pub joined: Vec<Visitor>,
    /// Who left since the last `presence` frame.
    pub left: Vec<Visitor>,
}

/// A frame the server sends.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// The subscription is in place: every frame of the topic published from now on
    /// reaches this socket (with `since`, the stored arguments after it come first).
    #[serde(rename = "subscribed")]
    Subscribed {
        /// The topic.
        topic: String,
        /// Whether the topic's frames carry `seq` and resume with `since`.
        resumable: bool,
    },
    /// The subscription ended: asked for (`unsubscribe`), or dropped because the access
    /// that allowed it ended (an `error` frame with code `revoked` comes first).
    #[serde(rename = "unsubscribed")]
    Unsubscribed {
        /// The topic.
        topic: String,
    },
    /// An argument was stored.
    #[serde(rename = "message.created")]
    MessageCreated {
        /// The room.
        topic: String,
        /// The argument, with its `seq`.
        message: MessageDto,
    },
    /// A moderator removed an argument: show it as removed.
    #[serde(rename = "message.removed")]
    MessageRemoved {
        /// The room.
        topic: String,
        /// The argument.
        seq: i64,
    },
    /// The session went live or closed.
    #[serde(rename = "session.status")]
    SessionStatus {
        /// The room.
        topic: String,
        /// `live` or `closed`.
        status: String,
    },
    /// Someone took a seat.
    #[serde(rename = "participant.joined")]
    ParticipantJoined {
        /// The room.
        topic: String,
        /// The seat.
        participant: ParticipantDto,
    },
    /// Someone left their seat (or was removed).
    #[serde(rename = "participant.left")]
    ParticipantLeft {
        /// The room.
        topic: String,
        /// The seat, with `left_at`.
        participant: ParticipantDto,
    },
    /// A participant was muted (sent to them and to moderators only).
    #[serde(rename = "moderation.muted")]
    ModerationMuted {
        /// The room.
        topic: String,
        /// Who.
        target: Option<Uuid>,
        /// Until when; absent until lifted.
        until: Option<DateTime<Utc>>,
        /// Why, if the moderator said.
        reason: Option<String>,
    },
    /// A mute was lifted (to the participant and moderators).
    #[serde(rename = "moderation.unmuted")]
    ModerationUnmuted {
        /// The room.
        topic: String,
        /// Who.
        target: Option<Uuid>,
    },
    /// A participant was removed: their subscriptions to the room end after this frame.
    #[serde(rename = "moderation.removed")]
    ModerationRemoved {
        /// The room.
        topic: String,
        /// Who.
        target: Option<Uuid>,
        /// Why, if the moderator said.
        reason: Option<String>,
    },
    /// A participant was warned (to them and moderators).
    #[serde(rename = "moderation.warning")]
    ModerationWarning {
        /// The room.
        topic: String,
        /// Who.
        target: Option<Uuid>,
        /// Why.
        reason: Option<String>,
    },
    /// The vote's counts changed (coalesced: at most a few per second).
    #[serde(rename = "vote.tally")]
    VoteTally {
        /// The room.
        topic: String,
        /// The results so far.
        results: ResultsDto,
    },
    /// How many are connected to the room (coalesced); `detail` for those who run it.
    #[serde(rename = "presence")]
    Presence {
        /// The room.
        topic: String,
        /// Distinct users connected.
        count: u64,
        /// Who (moderators, teachers and admins only).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        detail: Option<PresenceDetail>,
    },
    /// A notification was stored for you.
    #[serde(rename = "notification.created")]
    NotificationCreated {
        /// `user:{your id}`.
        topic: String,
        /// The notification.
        notification: NotificationDto,
        /// Your unread count afterwards.
        unread: u64,
    },
    /// An argument you sent was stored.
    #[serde(rename = "ack")]
    Ack {
        /// The room it was sent to.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        topic: Option<String>,
        /// Your `client_id`.
        client_id: String,
        /// Its sequence number.
        seq: i64,
    },
    /// A frame was refused, or a subscription failed or ended. The socket stays open.
    #[serde(rename = "error")]
    Error {
        /// The topic it concerns, if any.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        topic: Option<String>,
        /// Machine-readable: see [`ErrorCode`].
        code: ErrorCode,
        /// For people.
        detail: String,
        /// The `client_id` of the `message.send` it answers.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_id: Option<String>,
        /// With `rate_limited`: milliseconds until a send is accepted again.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        retry_after_ms: Option<u64>,
    },
    /// The answer to `ping`.
    #[serde(rename = "pong")]
    Pong,
    /// The token of an `auth` frame is now in force.
    #[serde(rename = "auth.ok")]
    AuthOk {
        /// When it expires: renew before.
        expires_at: DateTime<Utc>,
    },
}

/// The codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, no `type`, or a field missing or of the wrong type.
    Malformed,
    /// A `type` the server does not accept.
    UnknownType,
    /// A topic name that does not parse or whose kind does not exist.
    UnknownTopic,
    /// A topic you may not read, or that does not exist (the two are not told apart).
    NotFound,
    /// Not allowed (another user's feed, sending without the right).
    Forbidden,
    /// Already subscribed to this topic.
    AlreadySubscribed,
    /// Not subscribed to this topic.
    NotSubscribed,
    /// The connection has as many subscriptions as it may.
    TooManySubscriptions,
    /// Too many frames per second on this connection.
    TooManyFrames,
    /// Your send rate is used up; retry after `retry_after_ms`.
    RateLimited,
    /// Too many of your arguments waiting to be stored; retry.
    Busy,
    /// You are muted in this debate.
    Muted,
    /// The argument breaks a rule (empty, too long, session not live, …).
    Invalid,
    /// The state does not allow it (a closed session).
    Conflict,
    /// The token is invalid or expired.
    Unauthorized,
    /// The access that allowed the subscription ended (grant revoked, membership ended,
    /// debate made private, removed by a moderator): the subscription is gone.
    Revoked,
    /// The server could not do it now (storage unavailable); retry.
    Unavailable,
    /// Something went wrong on the server.
    Internal,
}

impl ServerFrame {
    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // Plain data (strings, numbers, ids, times): serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An `error` frame.
    pub fn error(topic: Option<String>, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Error {
            topic,
            code,
            detail: detail.into(),
            client_id: None,
            retry_after_ms: None,
        }
    }
}

/// A frame the server accepts.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ClientFrame {
    /// Subscribe to a topic; with `since` (resumable topics), the stored frames after it
    /// come first.
    #[serde(rename = "subscribe")]
    Subscribe {
        /// `debate:{session_id}` or `user:{your id}`.
        topic: String,
        /// Resume after this sequence number.
        #[serde(default)]
        since: Option<i64>,
    },
    /// End a subscription.
    #[serde(rename = "unsubscribe")]
    Unsubscribe {
        /// The topic.
        topic: String,
    },
    /// Send an argument to a debate room you are a debater in. Answered with `ack`
    /// (stored, with its `seq`) or an `error` with the same `client_id`.
    #[serde(rename = "message.send")]
    MessageSend {
        /// `debate:{session_id}`. Optional on `/ws/debate/{id}/` (its room).
        #[serde(default)]
        topic: Option<String>,
        /// The argument.
        body: String,
        /// Your id for this send, echoed in its `ack` or `error`.
        client_id: String,
        /// The argument answered, by `seq`.
        #[serde(default)]
        reply_to: Option<i64>,
    },
    /// Answered with `pong`.
    #[serde(rename = "ping")]
    Ping,
    /// A fresh access token for this connection (before the current one expires).
    #[serde(rename = "auth")]
    Auth {
        /// The access token.
        token: String,
    },
}

impl ClientFrame {
    /// Parses a client frame, or says why not (`malformed` / `unknown_type`).
    ///
    /// # Errors
    /// The code and detail of the `error` frame that answers it.
    pub fn parse(text: &str) -> Result<Self, (ErrorCode, String)> {
        Self::parse_among(text, CLIENT_TYPES)
    }

    /// Parses a client frame whose `type` must be one of `accepted` (the legacy
    /// single-topic sockets accept fewer than `/ws/`), or says why not.
    ///
    /// # Errors
    /// The code and detail of the `error` frame that answers it.
    pub fn parse_among(text: &str, accepted: &[&str]) -> Result<Self, (ErrorCode, String)> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| (ErrorCode::Malformed, format!("not JSON: {e}")))?;
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or((
                ErrorCode::Malformed,
                "a frame is an object with a \"type\"".to_owned(),
            ))?
            .to_owned();
        if !accepted.contains(&kind.as_str()) {
            let shown: String = kind.chars().take(40).collect();
            return Err((
                ErrorCode::UnknownType,
                format!(
                    "unknown frame type {shown:?} (accepted: {})",
                    accepted.join(", ")
                ),
            ));
        }
        let frame: Self = serde_json::from_value(value)
            .map_err(|e| (ErrorCode::Malformed, format!("{kind}: {e}")))?;
        match &frame {
            Self::Auth { token } if token.is_empty() => Err((
                ErrorCode::Malformed,
                "auth: a non-empty \"token\"".to_owned(),
            )),
            _ => Ok(frame),
        }
    }
}

/// The `type`s of [`ClientFrame`]: what `/ws/` accepts.
pub const CLIENT_TYPES: &[&str] = &["subscribe", "unsubscribe", "message.send", "ping", "auth"];
/// What a socket bound to a debate room (`/ws/debate/{id}/`) accepts, as it always did.
pub const ROOM_TYPES: &[&str] = &["message.send", "ping", "auth"];
/// What a socket bound to the caller's notifications (`/ws/notifications/`) accepts: it
/// only listens.
pub const FEED_TYPES: &[&str] = &["ping", "auth"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_or_say_why() {
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"subscribe","topic":"debate:x","since":3}"#),
            Ok(ClientFrame::Subscribe { since: Some(3), .. })
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"message.send","body":"x","client_id":"c1"}"#),
            Ok(ClientFrame::MessageSend { topic: None, .. })
        ));
        assert!(matches!(
            ClientFrame::parse("{nope"),
            Err((ErrorCode::Malformed, _))
        ));
        assert!(matches!(
            ClientFrame::parse("[1]"),
            Err((ErrorCode::Malformed, _))
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"dance"}"#),
            Err((ErrorCode::UnknownType, _))
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"message.send"}"#),
            Err((ErrorCode::Malformed, _))
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"auth","token":""}"#),
            Err((ErrorCode::Malformed, _))
        ));
        assert!(matches!(
            ClientFrame::parse(r#"{"type":"subscribe","topic":7}"#),
            Err((ErrorCode::Malformed, _))
        ));
    }

    #[test]
    fn every_client_type_is_a_variant() {
        // Each accepted type deserialises into a variant (with its required fields).
        let samples = [
            r#"{"type":"subscribe","topic":"t"}"#,
            r#"{"type":"unsubscribe","topic":"t"}"#,
            r#"{"type":"message.send","body":"b","client_id":"c"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"auth","token":"t"}"#,
        ];
        assert_eq!(samples.len(), CLIENT_TYPES.len());
        for s in samples {
            assert!(ClientFrame::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn server_frames_are_tagged_and_name_their_topic() {
        let f = ServerFrame::SessionStatus {
            topic: "debate:1".into(),
            status: "live".into(),
        };
        assert_eq!(
            f.to_text(),
            r#"{"type":"session.status","topic":"debate:1","status":"live"}"#
        );
        let e = ServerFrame::error(None, ErrorCode::TooManySubscriptions, "max 64");
        assert_eq!(
            e.to_text(),
            r#"{"type":"error","code":"too_many_subscriptions","detail":"max 64"}"#
        );
    }
}
