//! Ports of the identity domain: what it needs from storage and caches.
//!
//! Each method documents its error contract; adapters translate driver errors into
//! [`StoreError`] accordingly.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;

use crate::{
    Email, LoginSession, NewLoginSession, NewUser, RefreshTokenHash, RoleGrant, RotateOutcome,
    SessionId, User, UserId,
};

/// Durable store of accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] with `"username"` when the username is taken (compared
    /// case-insensitively) or `"email"` when the e-mail is.
    async fn insert(&self, user: NewUser) -> Result<User, StoreError>;

    /// The account with this id, if any.
    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The account with this username, compared case-insensitively.
    async fn by_username(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// The account with this (normalised) e-mail.
    async fn by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such user.
    async fn set_password_hash(
        &self,
        id: UserId,
        phc: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Enables or disables the account.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such user.
    async fn set_active(
        &self,
        id: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Durable store of login sessions and their refresh tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginSessionRepository: Send + Sync {
    /// Opens a session together with its first refresh token.
    async fn create(
        &self,
        session: NewLoginSession,
        first_token: RefreshTokenHash,
    ) -> Result<LoginSession, StoreError>;

    /// Presents a refresh token, atomically: a fresh token is marked used, `successor`
    /// becomes the session's next token and `last_used_at` becomes `now`; a token used
    /// before revokes its session. Two concurrent calls with the same token never both
    /// see [`RotateOutcome::Rotated`].
    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        successor: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError>;

    /// The session with this id, active or not.
    async fn get(&self, id: SessionId) -> Result<Option<LoginSession>, StoreError>;

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<LoginSession>, StoreError>;

    /// Revokes one session. Returns whether it was active before.
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Revokes every active session of `user` except `keep`; returns the ids revoked.
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Deletes the sessions that ended — expired or revoked — before `before`, with their
    /// refresh tokens; returns how many sessions. Active sessions are never touched. A
    /// token of a deleted session is simply unknown afterwards ([`RotateOutcome::Invalid`]).
    async fn purge_ended(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Revoked access tokens and sessions, consulted on every authenticated request so that a
/// logout takes effect at once on every instance, before the token expires.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Refuses the access token `jti` until `until` (its expiry).
    async fn revoke_token(&self, jti: uuid::Uuid, until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Refuses every access token of `session` until `until` (the latest expiry of a
    /// token that session may have been issued).
    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether the token or its session has been revoked.
    async fn is_revoked(
        &self,
        jti: uuid::Uuid,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Counts attempts per key (failed logins of an account, of a client address, of one
/// client against one account; registrations of a client address) within a window, and
/// holds lockouts. Shared by every instance in production.
///
/// Each key has at most one window, opened by its first counted attempt (or by a
/// [`lock`](AttemptLimiter::lock)) and never extended; once it ends the key starts afresh.
/// Whether a window is open is decided from the caller's `now`, never the store's clock.
///
/// # Errors
/// Every method returns [`StoreError::Unavailable`] when the store cannot be reached.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AttemptLimiter: Send + Sync {
    /// If `key` has reached `max_failures` in its current window (or is locked), the
    /// seconds until the window ends, rounded up and at least 1; otherwise `None`.
    async fn blocked_for(
        &self,
        key: &str,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError>;

    /// Counts one attempt for `key`; the first opens a window of `window_secs`.
    /// Returns the number of attempts in the window, this one included (saturating).
    async fn record_failure(
        &self,
        key: &str,
        window_secs: u64,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    /// Locks `key` for `secs` from `now`, replacing its window: until then
    /// [`blocked_for`](AttemptLimiter::blocked_for) reports it blocked whatever the limit
    /// asked about; afterwards the next attempt opens a fresh window.
    async fn lock(&self, key: &str, secs: u64, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Forgets the attempts of `key`, and its lock (after a successful login).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}

/// Holds an answer back for a while: the delay given to failed logins against an account
/// or from a client under attack. A port so that rules are tested without waiting.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Pacer: Send + Sync {
    /// Returns after `delay` (without blocking a thread).
    async fn pause(&self, delay: std::time::Duration);
}

/// Where a user's role grants come from (the RBAC tables).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait GrantSource: Send + Sync {
    /// The user's grants that are in force at `now`.
    async fn grants_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleGrant>, StoreError>;

    /// Gives `user` the role `grant` (idempotent); used to bootstrap the first admin.
    async fn add_grant(
        &self,
        user: UserId,
        grant: RoleGrant,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
