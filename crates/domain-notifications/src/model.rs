//! Notifications, their kinds, delivery channels and the outcomes of the store's writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest title, in characters (one line, shown in lists and e-mail subjects).
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest body, in characters.
pub const BODY_MAX_CHARS: usize = 2000;
/// Longest link, in characters.
pub const LINK_MAX_CHARS: usize = 500;
/// Longest de-duplication key, in characters.
pub const DEDUPE_KEY_MAX_CHARS: usize = 200;

/// What a notification is about. The text forms (`as_str`, serde) are stored in the
/// database and sent to clients, so they never change once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A new debate was scheduled in a scope the user belongs to.
    DebateScheduled,
    /// A session the user joined moved to another time.
    SessionRescheduled,
    /// A moderator acted against the user (mute, removal, warning, message removed).
    ModerationAction,
    /// The results of a debate the user took part in are out.
    ResultsPublished,
    /// The user was granted a role.
    RoleGranted,
}

impl NotificationKind {
    /// Every kind, in the order preferences are listed.
    pub const ALL: [Self; 5] = [
        Self::DebateScheduled,
        Self::SessionRescheduled,
        Self::ModerationAction,
        Self::ResultsPublished,
        Self::RoleGranted,
    ];

    /// The text form (`"debate_scheduled"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DebateScheduled => "debate_scheduled",
            Self::SessionRescheduled => "session_rescheduled",
            Self::ModerationAction => "moderation_action",
            Self::ResultsPublished => "results_published",
            Self::RoleGranted => "role_granted",
        }
    }

    /// The kind of a text form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The channel used while the user has not chosen one.
    ///
    /// Things done *to* the user — a moderator's action, a role granted — also go by
    /// e-mail: they change what the user may do, and the user may not open the app
    /// before it matters. So does a schedule change of a session they joined, since
    /// missing it means missing the debate. News they can pick up whenever they next
    /// look (a debate scheduled, results out) stays in the app, so that e-mail is not
    /// spent on it.
    pub fn default_channel(self) -> Channel {
        match self {
            Self::DebateScheduled | Self::ResultsPublished => Channel::InApp,
            Self::SessionRescheduled | Self::ModerationAction | Self::RoleGranted => Channel::Both,
        }
    }
}

impl std::fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a user wants to hear about one kind of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Stored and shown in the app (and pushed live), no e-mail.
    InApp,
    /// E-mail only; nothing is stored in the app.
    Email,
    /// In the app and by e-mail.
    Both,
    /// Not at all.
    None,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 4] = [Self::InApp, Self::Email, Self::Both, Self::None];

    /// The text form (`"in_app"`, `"email"`, `"both"`, `"none"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InApp => "in_app",
            Self::Email => "email",
            Self::Both => "both",
            Self::None => "none",
        }
    }

    /// The channel of a text form; `None` (the option) for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether notifications on this channel are stored for the app.
    pub fn in_app(self) -> bool {
        matches!(self, Self::InApp | Self::Both)
    }

    /// Whether notifications on this channel are e-mailed.
    pub fn email(self) -> bool {
        matches!(self, Self::Email | Self::Both)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// What it is about.
    pub kind: NotificationKind,
    /// One line.
    pub title: String,
    /// More detail; may be empty.
    pub body: String,
    /// The path of the resource it is about (`/api/debates/sessions/{id}/`), relative to
    /// the API's origin.
    pub link: Option<String>,
    /// When it was created (microseconds, as stored).
    pub created_at: DateTime<Utc>,
    /// When the user read it; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// Whether the user has not read it yet.
    pub fn is_unread(&self) -> bool {
        self.read_at.is_none()
    }
}

/// What marking one notification read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The user has no notification with that id.
    NotFound,
    /// It was read already; nothing changed (its `read_at` stays the first reading's).
    AlreadyRead,
    /// It was unread and is now read.
    Marked,
}

/// What deleting one notification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The user has no notification with that id.
    NotFound,
    /// It is gone; `was_unread` says whether it counted as unread until now.
    Deleted {
        /// Whether it was unread.
        was_unread: bool,
    },
}

/// A user's channel for one kind, as in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Preference {
    /// The kind.
    pub kind: NotificationKind,
    /// The channel in effect: the user's choice, or the kind's default.
    pub channel: Channel,
    /// Whether the user chose it (`false`: it is [`NotificationKind::default_channel`]).
    pub chosen: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(
            NotificationKind::DebateScheduled.as_str(),
            "debate_scheduled"
        );
        assert_eq!(NotificationKind::parse("DebateScheduled"), None);
        assert_eq!(NotificationKind::parse(""), None);
    }

    #[test]
    fn channels_round_trip_through_text() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            assert_eq!(
                serde_json::to_value(channel).unwrap(),
                serde_json::json!(channel.as_str())
            );
        }
        assert_eq!(Channel::parse("sms"), None);
        assert!(Channel::InApp.in_app() && !Channel::InApp.email());
        assert!(!Channel::Email.in_app() && Channel::Email.email());
        assert!(Channel::Both.in_app() && Channel::Both.email());
        assert!(!Channel::None.in_app() && !Channel::None.email());
    }

    #[test]
    fn defaults_email_what_is_done_to_the_user() {
        use NotificationKind::*;
        assert_eq!(DebateScheduled.default_channel(), Channel::InApp);
        assert_eq!(ResultsPublished.default_channel(), Channel::InApp);
        assert_eq!(SessionRescheduled.default_channel(), Channel::Both);
        assert_eq!(ModerationAction.default_channel(), Channel::Both);
        assert_eq!(RoleGranted.default_channel(), Channel::Both);
    }
}
