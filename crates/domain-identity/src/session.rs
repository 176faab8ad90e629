//! Login sessions and their rotating refresh tokens.
//!
//! A session is one login on one device (a "token family"). Each refresh token is good
//! for exactly one use: using it yields its successor. Presenting a token that was
//! already used means two parties hold it, so the session is revoked (theft detection).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use domain_core::define_id;
use sha2::{Digest, Sha256};

use crate::{IdentityError, UserId};

define_id!(
    /// Identifies a login session (a refresh-token family).
    SessionId
);

/// Where a login came from, shown to the user in their session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// The client's address as seen by the server.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// Longest user agent kept.
    pub const MAX_USER_AGENT: usize = 256;

    /// Builds client info, truncating an over-long user agent and dropping its control
    /// characters (a header may carry a tab; the value is shown on one line).
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        let user_agent = user_agent.map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(Self::MAX_USER_AGENT)
                .collect()
        });
        Self { user_agent, ip }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Session id; carried by access tokens as `sid`.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Device / client description.
    pub client: ClientInfo,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_used_at: DateTime<Utc>,
    /// After this, no refresh token of the session is accepted.
    pub expires_at: DateTime<Utc>,
    /// Set when the session was ended (logout, theft detection, password change…).
    pub revoked_at: Option<DateTime<Utc>>,
}

impl LoginSession {
    /// Whether the session can still be refreshed at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What a repository needs to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoginSession {
    /// Id chosen by the service.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Device / client description.
    pub client: ClientInfo,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub expires_at: DateTime<Utc>,
}

/// SHA-256 of a refresh token, hex-encoded: only hashes are stored, so a database leak
/// yields no usable token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(pub String);

/// A refresh token as handed to a client, with the hash that is stored.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Opaque text given to the client (`rt_` + 256 random bits).
    pub secret: String,
    /// What storage keeps.
    pub hash: RefreshTokenHash,
}

impl RefreshToken {
    /// A new random token.
    ///
    /// # Errors
    /// [`IdentityError::Internal`] when the OS random source fails.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| IdentityError::Internal(format!("random source: {e}")))?;
        let secret = format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = Self::hash_of(&secret);
        Ok(Self { secret, hash })
    }

    /// The stored hash of a token presented by a client.
    pub fn hash_of(secret: &str) -> RefreshTokenHash {
        let digest = Sha256::digest(secret.as_bytes());
        RefreshTokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Result of presenting a refresh token to [`crate::LoginSessionRepository::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was fresh: it is now used, its successor is stored, and this is the
    /// session (with `last_used_at` updated).
    Rotated(LoginSession),
    /// The token had been used before: the session is now revoked.
    Reused(LoginSession),
    /// Unknown token, or its session is revoked or expired. Nothing changed.
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = RefreshToken::generate().unwrap();
        let b = RefreshToken::generate().unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("rt_") && a.secret.len() > 40);
        assert_eq!(RefreshToken::hash_of(&a.secret), a.hash);
        assert_eq!(a.hash.0.len(), 64);
        assert!(!a.hash.0.contains(&a.secret));
    }

    #[test]
    fn user_agent_is_truncated() {
        let c = ClientInfo::new(Some(&"x".repeat(1000)), None);
        assert_eq!(c.user_agent.unwrap().len(), ClientInfo::MAX_USER_AGENT);
    }
}
