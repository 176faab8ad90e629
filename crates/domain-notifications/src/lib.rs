//! Notifications for Agora: what a user is told (a debate scheduled in their scope, a
//! session they joined rescheduled, a moderator's action against them, results of a
//! debate they took part in, a role granted to them), how (in the app, by e-mail, both
//! or not at all, per kind), and how many they have not read.
//!
//! Business rules and ports only. Notifications are created by background jobs reacting
//! to domain events (wired in `api-server`), which run at least once: every notification
//! carries a de-duplication key, and storing one twice stores it once. Sending e-mail and
//! pushing over WebSocket are the caller's: [`NotificationService::notify`] says whether
//! an e-mail is due and hands back what it stored.

pub mod email;
pub mod error;
pub mod model;
pub mod notification_event;
pub mod ports;
pub mod service;

#[cfg(any(test, feature = "mocks"))]
pub use email::MockMailer;
pub use email::{Email, MailError, Mailer};
pub use error::NotificationError;
pub use model::{
    BODY_MAX_CHARS, Channel, DEDUPE_KEY_MAX_CHARS, DeleteOutcome, LINK_MAX_CHARS, Notification,
    NotificationKind, Preference, ReadOutcome, TITLE_MAX_CHARS,
};
pub use notification_event::NotificationEvent;
pub use ports::{NotificationStore, PreferenceStore, UnreadCounter};
pub use service::{Delivery, NotificationService};
