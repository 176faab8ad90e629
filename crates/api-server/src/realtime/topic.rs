//! Topic names of the real-time platform: `{kind}:{id}`. Each kind says whether its
//! frames carry a resumable sequence (a client resumes with `since`); who may subscribe
//! is decided in [`super::access`], with the same guard as REST.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Longest topic name a client may send; anything longer is refused before parsing.
pub const TOPIC_MAX_LEN: usize = 100;

/// A topic a socket can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// `debate:{session_id}` — a debate room: arguments (resumable by `seq`), seats,
    /// status, moderation, tallies, presence.
    Debate(Uuid),
    /// `user:{user_id}` — one user's own feed: new notifications. Only its user may
    /// subscribe.
    User(Uuid),
}

/// The kinds of topic, with what each promises.
pub const KINDS: &[(&str, &str)] = &[
    (
        "debate",
        "a debate room (`debate:{session_id}`); arguments carry `seq` and resume with `since`",
    ),
    (
        "user",
        "your own notifications (`user:{your user id}`); not resumable — read what you \
         missed with GET /api/notifications/",
    ),
];

impl Topic {
    /// Whether frames of this topic carry a sequence a client can resume from.
    pub fn resumable(self) -> bool {
        matches!(self, Self::Debate(_))
    }

    /// The kind, as written before the colon.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Debate(_) => "debate",
            Self::User(_) => "user",
        }
    }

    /// The id after the colon.
    pub fn id(self) -> Uuid {
        match self {
            Self::Debate(id) | Self::User(id) => id,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// Why a topic name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// Not `{kind}:{uuid}`.
    Malformed(String),
    /// A kind this server does not have.
    UnknownKind(String),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "{why}"),
            Self::UnknownKind(kind) => write!(
                f,
                "unknown topic kind {kind:?} (known: {})",
                KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > TOPIC_MAX_LEN {
            return Err(TopicError::Malformed(format!(
                "a topic name is at most {TOPIC_MAX_LEN} characters"
            )));
        }
        let (kind, id) = s.split_once(':').ok_or_else(|| {
            TopicError::Malformed("a topic is {kind}:{id}, e.g. debate:{session_id}".into())
        })?;
        let parse_id = || {
            Uuid::parse_str(id).map_err(|_| TopicError::Malformed(format!("{id:?} is not a UUID")))
        };
        match kind {
            "debate" => Ok(Self::Debate(parse_id()?)),
            "user" => Ok(Self::User(parse_id()?)),
            other => Err(TopicError::UnknownKind(other.chars().take(40).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_say_why() {
        let id = Uuid::new_v4();
        for t in [Topic::Debate(id), Topic::User(id)] {
            assert_eq!(t.to_string().parse::<Topic>(), Ok(t));
        }
        assert!(Topic::Debate(id).resumable() && !Topic::User(id).resumable());
        assert!(matches!(
            "debate".parse::<Topic>(),
            Err(TopicError::Malformed(_))
        ));
        assert!(matches!(
            "debate:x".parse::<Topic>(),
            Err(TopicError::Malformed(_))
        ));
        assert!(matches!(
            format!("chat:{id}").parse::<Topic>(),
            Err(TopicError::UnknownKind(k)) if k == "chat"
        ));
        assert!(matches!(
            "d".repeat(200).parse::<Topic>(),
            Err(TopicError::Malformed(_))
        ));
    }
}
