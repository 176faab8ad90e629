//! Port of debate-room presence: who has a WebSocket open on a room right now, kept with
//! an expiry so that connections of a server instance that crashed (and so never said
//! goodbye) disappear on their own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One open WebSocket connection to a debate room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PresenceEntry {
    /// The room: the debate session's id.
    pub session_id: Uuid,
    /// This connection, unique across instances (a user may have several: tabs, devices).
    pub connection_id: Uuid,
    /// Who is connected.
    pub user_id: Uuid,
    /// Their username, stored with the entry so listing a room needs no account lookups.
    pub username: String,
}

/// A user present in a room: at least one of their connections is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentUser {
    /// The user.
    pub user_id: Uuid,
    /// Their username, as given by their connection that expires last (the most recently
    /// entered or refreshed one, so a rename shows once a new connection carries it).
    pub username: String,
    /// How many live connections they have in the room.
    pub connections: u32,
}

/// Who is connected to each debate room, shared by every server instance: Redis in
/// production, process memory in the embedded mode.
///
/// Every connection is recorded with an expiry. The server [`enter`](Self::enter)s a
/// connection when its WebSocket opens, [`refresh`](Self::refresh)es it on every
/// heartbeat (every 10 s) with an expiry ~30 s ahead, and [`leave`](Self::leave)s it when
/// the socket closes. A connection whose expiry has passed never counts, whether or not
/// anything has removed it yet: an instance that crashes stops refreshing, and its
/// connections age out within one TTL with nobody cleaning up after it.
///
/// Time is always the caller's (`now`, `expires_at`, milliseconds are kept), never the
/// store's, so every instance judges expiry alike and tests can use a manual clock. An
/// entry is live at `now` while `now < expires_at`. Calls given a `now` may remove
/// entries that have expired by then.
///
/// Arrivals and departures are judged per user, not per connection, so a second tab does
/// not announce its user again and closing one of two tabs does not announce a
/// departure. Both answers depend only on the user's *other* connections, which makes
/// `enter` and `leave` safe to retry.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records the connection as live until `expires_at`, or moves its expiry there if it
    /// is already recorded. Returns `true` when the user has no other connection in the
    /// room that is live at `now`: they just arrived (entering the same connection again
    /// answers the same, so a retried `enter` never loses an arrival).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn enter(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Heartbeat: moves the connection's expiry to `expires_at`. A connection that is no
    /// longer recorded (it expired while heartbeats were late, or the store lost its data
    /// in a restart) is recorded again, silently: this is not an arrival.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn refresh(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Removes the connection. Returns `true` when the user has no other connection in the
    /// room that is live at `now`: they left. That holds even if this connection was no
    /// longer recorded (it had expired, or this is a retry), so a departure is announced
    /// rather than lost.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn leave(&self, entry: &PresenceEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The users with at least one connection live at `now`, sorted by username then user
    /// id, at most `limit` of them.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn present(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PresentUser>, StoreError>;

    /// How many distinct users have a connection live at `now`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn count(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
