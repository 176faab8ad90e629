//! The events of the identity domain, as one typed enum shared by the service that
//! publishes them after a change and whatever reacts to them
//! ([`domain_core::DomainEvent::decode`]). None carries a secret: no password, no hash,
//! no token.

use domain_core::TypedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every event of the identity domain; the aggregate is always the account. The
/// serialised form is tagged with the event's dotted name
/// (`"event": "identity.user_registered"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum IdentityEvent {
    /// An account was created.
    #[serde(rename = "identity.user_registered")]
    UserRegistered {
        /// The account.
        user_id: Uuid,
        /// Its username.
        username: String,
    },
    /// An account's password was changed; its other sessions were ended.
    #[serde(rename = "identity.password_changed")]
    PasswordChanged {
        /// The account.
        user_id: Uuid,
        /// How many sessions the change ended.
        sessions_ended: usize,
    },
    /// An account was disabled; all its sessions were ended.
    #[serde(rename = "identity.user_disabled")]
    UserDisabled {
        /// The account.
        user_id: Uuid,
        /// How many sessions the change ended.
        sessions_ended: usize,
    },
}

impl TypedEvent for IdentityEvent {
    const VERSION: u32 = 1;
    const NAMES: &'static [&'static str] = &[
        "identity.user_registered",
        "identity.password_changed",
        "identity.user_disabled",
    ];

    fn name(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "identity.user_registered",
            Self::PasswordChanged { .. } => "identity.password_changed",
            Self::UserDisabled { .. } => "identity.user_disabled",
        }
    }

    fn aggregate_id(&self) -> Uuid {
        match self {
            Self::UserRegistered { user_id, .. }
            | Self::PasswordChanged { user_id, .. }
            | Self::UserDisabled { user_id, .. } => *user_id,
        }
    }
}
