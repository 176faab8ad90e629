//! Notifications, preferences and unread counts in maps, with the same rules as the
//! PostgreSQL tables: a notification or a preference needs an account of the user store,
//! and a user has at most one notification per de-duplication key.
//!
//! One mutex guards each store, so an insert's duplicate check and its write are one
//! step. Accounts are looked up before the lock is taken (it is never held across an
//! await); they are never deleted, so the answer cannot go stale.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_identity::{UserId, UserRepository};
use domain_notifications::{
    Channel, DeleteOutcome, Notification, NotificationKind, NotificationStore, PreferenceStore,
    ReadOutcome, UnreadCounter,
};
use uuid::Uuid;

use crate::{lock, stored};

/// In-process [`NotificationStore`] and [`PreferenceStore`].
pub struct MemoryNotificationStore {
    /// Where users must exist.
    users: Arc<dyn UserRepository>,
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryNotificationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNotificationStore")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Per user, keyed (created_at, id): newest first is a reverse walk, as the
    /// PostgreSQL index orders them.
    notifications: HashMap<Uuid, BTreeMap<(DateTime<Utc>, Uuid), Notification>>,
    /// Per user, the de-duplication keys of their stored notifications.
    dedupe_keys: HashMap<Uuid, HashSet<String>>,
    /// Every notification's owner, position and key, so a call naming an id finds it at
    /// once, and a deletion drops its key as the row's goes with it in PostgreSQL.
    by_id: HashMap<Uuid, Entry>,
    /// Per user, the chosen channels.
    preferences: HashMap<Uuid, BTreeMap<NotificationKind, Channel>>,
}

#[derive(Debug)]
struct Entry {
    user_id: Uuid,
    created_at: DateTime<Utc>,
    dedupe_key: String,
}

impl State {
    /// The position of the user's notification `id`, if it is theirs.
    fn position(&self, user: Uuid, id: Uuid) -> Option<(DateTime<Utc>, Uuid)> {
        self.by_id
            .get(&id)
            .filter(|e| e.user_id == user)
            .map(|e| (e.created_at, id))
    }
}

impl MemoryNotificationStore {
    /// An empty store whose users must be accounts of `users`.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            users,
            state: Mutex::new(State::default()),
        }
    }

    async fn require_user(&self, user: Uuid) -> Result<(), StoreError> {
        match self.users.by_id(UserId(user)).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl NotificationStore for MemoryNotificationStore {
    async fn insert(
        &self,
        notification: &Notification,
        dedupe_key: &str,
    ) -> Result<bool, StoreError> {
        self.require_user(notification.user_id).await?;
        let mut n = notification.clone();
        n.created_at = stored(n.created_at);
        n.read_at = n.read_at.map(stored);
        let mut state = lock(&self.state);
        let user = n.user_id;
        // The key is checked first, as PostgreSQL checks the conflict target of
        // `ON CONFLICT` before any other unique index.
        if state
            .dedupe_keys
            .get(&user)
            .is_some_and(|keys| keys.contains(dedupe_key))
        {
            return Ok(false);
        }
        if state.by_id.contains_key(&n.id) {
            return Err(StoreError::Duplicate("id".into()));
        }
        state
            .dedupe_keys
            .entry(user)
            .or_default()
            .insert(dedupe_key.to_owned());
        state.by_id.insert(
            n.id,
            Entry {
                user_id: user,
                created_at: n.created_at,
                dedupe_key: dedupe_key.to_owned(),
            },
        );
        state
            .notifications
            .entry(user)
            .or_default()
            .insert((n.created_at, n.id), n);
        Ok(true)
    }

    async fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let state = lock(&self.state);
        let Some(mine) = state.notifications.get(&user) else {
            return Ok(Vec::new());
        };
        let newest_first: Box<dyn Iterator<Item = (&(DateTime<Utc>, Uuid), &Notification)>> =
            match after {
                None => Box::new(mine.iter().rev()),
                Some(id) => match state.position(user, id) {
                    Some(at) => Box::new(mine.range(..at).rev()),
                    None => return Ok(Vec::new()),
                },
            };
        Ok(newest_first
            .map(|(_, n)| n)
            .filter(|n| !unread_only || n.is_unread())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn mark_read(
        &self,
        user: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ReadOutcome, StoreError> {
        let mut state = lock(&self.state);
        let Some(at) = state.position(user, id) else {
            return Ok(ReadOutcome::NotFound);
        };
        let Some(n) = state
            .notifications
            .get_mut(&user)
            .and_then(|mine| mine.get_mut(&at))
        else {
            return Ok(ReadOutcome::NotFound);
        };
        if n.read_at.is_some() {
            return Ok(ReadOutcome::AlreadyRead);
        }
        n.read_at = Some(stored(now));
        Ok(ReadOutcome::Marked)
    }

    async fn mark_all_read(&self, user: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let mut marked = 0;
        for n in state
            .notifications
            .get_mut(&user)
            .into_iter()
            .flat_map(|mine| mine.values_mut())
            .filter(|n| n.read_at.is_none())
        {
            n.read_at = Some(stored(now));
            marked += 1;
        }
        Ok(marked)
    }

    async fn delete(&self, user: Uuid, id: Uuid) -> Result<DeleteOutcome, StoreError> {
        let mut state = lock(&self.state);
        let Some(at) = state.position(user, id) else {
            return Ok(DeleteOutcome::NotFound);
        };
        let Some(n) = state
            .notifications
            .get_mut(&user)
            .and_then(|mine| mine.remove(&at))
        else {
            return Ok(DeleteOutcome::NotFound);
        };
        if let Some(entry) = state.by_id.remove(&id)
            && let Some(keys) = state.dedupe_keys.get_mut(&user)
        {
            keys.remove(&entry.dedupe_key);
        }
        Ok(DeleteOutcome::Deleted {
            was_unread: n.is_unread(),
        })
    }

    async fn unread_count(&self, user: Uuid) -> Result<u64, StoreError> {
        let state = lock(&self.state);
        let unread = state
            .notifications
            .get(&user)
            .map_or(0, |mine| mine.values().filter(|n| n.is_unread()).count());
        Ok(u64::try_from(unread).unwrap_or(u64::MAX))
    }
}

#[async_trait]
impl PreferenceStore for MemoryNotificationStore {
    async fn preferences(
        &self,
        user: Uuid,
    ) -> Result<Vec<(NotificationKind, Channel)>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .preferences
            .get(&user)
            .map(|chosen| chosen.iter().map(|(k, c)| (*k, *c)).collect())
            .unwrap_or_default())
    }

    async fn set_preference(
        &self,
        user: Uuid,
        kind: NotificationKind,
        channel: Channel,
    ) -> Result<(), StoreError> {
        self.require_user(user).await?;
        lock(&self.state)
            .preferences
            .entry(user)
            .or_default()
            .insert(kind, channel);
        Ok(())
    }
}

/// In-process [`UnreadCounter`]. Counts never expire: in the embedded mode the counter
/// and the store live and die together, and every store write that changes a count
/// updates it in the same process, so there is no drift for an expiry to heal.
#[derive(Debug, Default)]
pub struct MemoryUnreadCounter {
    counts: Mutex<HashMap<Uuid, u64>>,
}

impl MemoryUnreadCounter {
    /// Every count unknown.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UnreadCounter for MemoryUnreadCounter {
    async fn get(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.counts).get(&user).copied())
    }

    async fn set(&self, user: Uuid, count: u64) -> Result<(), StoreError> {
        lock(&self.counts).insert(user, count);
        Ok(())
    }

    async fn incr(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.counts).get_mut(&user).map(|n| {
            *n = n.saturating_add(1);
            *n
        }))
    }

    async fn decr(&self, user: Uuid) -> Result<Option<u64>, StoreError> {
        Ok(lock(&self.counts).get_mut(&user).map(|n| {
            *n = n.saturating_sub(1);
            *n
        }))
    }

    async fn forget(&self, user: Uuid) -> Result<(), StoreError> {
        lock(&self.counts).remove(&user);
        Ok(())
    }
}
