//! Ports of the notifications domain: durable storage of notifications and preferences
//! (PostgreSQL, or process memory in the embedded mode), and the unread-count cache
//! (Redis, shared by every instance, or process memory).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use uuid::Uuid;

use crate::{Channel, DeleteOutcome, Notification, NotificationKind, ReadOutcome};

/// Durable storage of notifications.
///
/// Every call is about one user's notifications: a notification of another user is
/// treated as not existing, so a caller that passes the authenticated user cannot reach
/// anybody else's.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `notification` unless its user already has one stored under `dedupe_key`;
    /// returns whether it was stored. Notifications are created by background jobs that
    /// run at least once, so a retried job passes the same key and notifies once. The
    /// check and the write are one atomic step: concurrent inserts with one key store one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user does not exist;
    /// [`StoreError::Duplicate`] (`"id"`) when a notification with this id is stored
    /// under another key; [`StoreError::Unavailable`] when the store cannot be reached.
    async fn insert(
        &self,
        notification: &Notification,
        dedupe_key: &str,
    ) -> Result<bool, StoreError>;

    /// The user's notifications newest first (`created_at` descending, then `id`
    /// descending, so notifications created in the same microsecond keep one order), only
    /// unread ones if `unread_only`, at most `limit`, starting after the notification
    /// `after` (the last one of the previous page). An `after` that is not one of the
    /// user's notifications (any more) gives an empty list.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Marks the user's notification `id` read at `now`, if it is unread.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn mark_read(
        &self,
        user: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ReadOutcome, StoreError>;

    /// Marks every unread notification of the user read at `now`; returns how many were
    /// unread.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn mark_all_read(&self, user: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Deletes the user's notification `id`. Its de-duplication key goes with it, so a
    /// job retried after the deletion would notify again: retries come within minutes,
    /// deletions later.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn delete(&self, user: Uuid, id: Uuid) -> Result<DeleteOutcome, StoreError>;

    /// How many notifications of the user are unread.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn unread_count(&self, user: Uuid) -> Result<u64, StoreError>;
}

/// Durable storage of the channel each user chose per kind.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// The user's choices, one per kind they chose for, in [`NotificationKind::ALL`]
    /// order; kinds they never chose for are absent (their default applies).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn preferences(&self, user: Uuid)
    -> Result<Vec<(NotificationKind, Channel)>, StoreError>;

    /// Records the user's choice for `kind`, replacing an earlier one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user does not exist;
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn set_preference(
        &self,
        user: Uuid,
        kind: NotificationKind,
        channel: Channel,
    ) -> Result<(), StoreError>;
}

/// A cache of each user's unread count, so the badge every page shows is not a count
/// query: Redis in production (shared by every instance), process memory in the embedded
/// mode.
///
/// The count is only ever known or unknown; the service fills an unknown one from the
/// [`NotificationStore`]. [`incr`](Self::incr) and [`decr`](Self::decr) change a known
/// count and leave an unknown one unknown: counting up from nothing would turn "unknown"
/// into a wrong number. Adapters may forget a count at any time (Redis lets it expire
/// after a while, so a count that drifted from the store heals); callers must not.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UnreadCounter: Send + Sync {
    /// The user's cached count; `None` when unknown.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the cache cannot be reached.
    async fn get(&self, user: Uuid) -> Result<Option<u64>, StoreError>;

    /// Caches `count` as the user's count.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the cache cannot be reached.
    async fn set(&self, user: Uuid, count: u64) -> Result<(), StoreError>;

    /// Adds one to a known count and returns the new count; an unknown count stays
    /// unknown (`None`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the cache cannot be reached.
    async fn incr(&self, user: Uuid) -> Result<Option<u64>, StoreError>;

    /// Takes one from a known count, never below 0, and returns the new count; an unknown
    /// count stays unknown (`None`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the cache cannot be reached.
    async fn decr(&self, user: Uuid) -> Result<Option<u64>, StoreError>;

    /// Makes the user's count unknown.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the cache cannot be reached.
    async fn forget(&self, user: Uuid) -> Result<(), StoreError>;
}
