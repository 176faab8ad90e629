//! Debate-room presence in a map: the embedded mode's one process holds every connection.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain_core::StoreError;
use domain_debates::{PresenceEntry, PresenceStore, PresentUser};
use uuid::Uuid;

use crate::{lock, millis};

/// In-process [`PresenceStore`]. Expired connections are dropped from a room whenever a
/// call with a `now` touches it, and from every room whenever the number of rooms has
/// doubled since the last sweep, so rooms nobody looks at again cannot pile up.
#[derive(Debug, Default)]
pub struct MemoryPresence {
    state: Mutex<Rooms>,
}

#[derive(Debug, Default)]
struct Rooms {
    /// Connections by id, per room; a room with none is removed.
    rooms: HashMap<Uuid, HashMap<Uuid, Connection>>,
    /// Number of rooms after the last sweep; the next sweep happens at twice this (or 1024).
    swept_len: usize,
}

#[derive(Debug, Clone)]
struct Connection {
    user_id: Uuid,
    username: String,
    expires_at: DateTime<Utc>,
}

impl MemoryPresence {
    /// Nobody present anywhere.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Rooms {
    /// The room's connections live at `now`, after dropping the others.
    fn live(
        &mut self,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<&mut HashMap<Uuid, Connection>> {
        let Entry::Occupied(mut room) = self.rooms.entry(session_id) else {
            return None;
        };
        room.get_mut().retain(|_, c| c.expires_at > now);
        if room.get().is_empty() {
            room.remove();
            return None;
        }
        Some(room.into_mut())
    }

    fn sweep_if_large(&mut self, now: DateTime<Utc>) {
        if self.rooms.len() >= (self.swept_len * 2).max(1024) {
            self.rooms.retain(|_, room| {
                room.retain(|_, c| c.expires_at > now);
                !room.is_empty()
            });
            self.swept_len = self.rooms.len();
        }
    }

    /// Whether `entry`'s user has a connection other than `entry`'s in the room, all of
    /// whose expired connections have already been dropped.
    fn has_other(&self, entry: &PresenceEntry) -> bool {
        self.rooms.get(&entry.session_id).is_some_and(|room| {
            room.iter()
                .any(|(id, c)| *id != entry.connection_id && c.user_id == entry.user_id)
        })
    }

    fn record(&mut self, entry: &PresenceEntry, expires_at: DateTime<Utc>) {
        self.rooms.entry(entry.session_id).or_default().insert(
            entry.connection_id,
            Connection {
                user_id: entry.user_id,
                username: entry.username.clone(),
                expires_at,
            },
        );
    }
}

#[async_trait]
impl PresenceStore for MemoryPresence {
    async fn enter(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Milliseconds, as the Redis adapter keeps them, so entries lapse at the same instant.
        let now = millis(now);
        let mut s = lock(&self.state);
        s.sweep_if_large(now);
        s.live(entry.session_id, now);
        let arrived = !s.has_other(entry);
        s.record(entry, millis(expires_at));
        Ok(arrived)
    }

    async fn refresh(
        &self,
        entry: &PresenceEntry,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lock(&self.state).record(entry, millis(expires_at));
        Ok(())
    }

    async fn leave(&self, entry: &PresenceEntry, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = millis(now);
        let mut s = lock(&self.state);
        if let Some(room) = s.live(entry.session_id, now) {
            room.remove(&entry.connection_id);
            if room.is_empty() {
                s.rooms.remove(&entry.session_id);
            }
        }
        Ok(!s.has_other(entry))
    }

    async fn present(
        &self,
        session_id: Uuid,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PresentUser>, StoreError> {
        let now = millis(now);
        let mut s = lock(&self.state);
        let Some(room) = s.live(session_id, now) else {
            return Ok(Vec::new());
        };
        // Per user: connection count, and the username of the connection expiring last
        // (ties: the greatest connection id), which is the one the Redis adapter keeps.
        let mut users: HashMap<Uuid, (u32, (DateTime<Utc>, Uuid), &str)> = HashMap::new();
        for (id, c) in room.iter() {
            let rank = (c.expires_at, *id);
            let user = users
                .entry(c.user_id)
                .or_insert((0, rank, c.username.as_str()));
            user.0 += 1;
            if rank > user.1 {
                user.1 = rank;
                user.2 = c.username.as_str();
            }
        }
        let mut present: Vec<PresentUser> = users
            .into_iter()
            .map(|(user_id, (connections, _, username))| PresentUser {
                user_id,
                username: username.to_owned(),
                connections,
            })
            .collect();
        present.sort_unstable_by(|a, b| (&a.username, a.user_id).cmp(&(&b.username, b.user_id)));
        present.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(present)
    }

    async fn count(&self, session_id: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = millis(now);
        let mut s = lock(&self.state);
        let Some(room) = s.live(session_id, now) else {
            return Ok(0);
        };
        let mut users: Vec<Uuid> = room.values().map(|c| c.user_id).collect();
        users.sort_unstable();
        users.dedup();
        Ok(u64::try_from(users.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn entry(session_id: Uuid) -> PresenceEntry {
        PresenceEntry {
            session_id,
            connection_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            username: "alice".to_owned(),
        }
    }

    #[tokio::test]
    async fn rooms_nobody_touches_again_are_swept_out_as_the_map_grows() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let presence = MemoryPresence::new();
        for _ in 0..1000 {
            presence
                .enter(&entry(Uuid::new_v4()), t0 + Duration::seconds(30), t0)
                .await
                .unwrap();
        }
        let later = t0 + Duration::seconds(31);
        for _ in 0..100 {
            presence
                .enter(&entry(Uuid::new_v4()), later + Duration::seconds(30), later)
                .await
                .unwrap();
        }
        let len = lock(&presence.state).rooms.len();
        assert!(
            len <= 100,
            "rooms with only expired connections were dropped, {len} left"
        );
    }

    #[tokio::test]
    async fn the_last_leave_removes_the_room() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let presence = MemoryPresence::new();
        let e = entry(Uuid::new_v4());
        presence
            .enter(&e, t0 + Duration::seconds(30), t0)
            .await
            .unwrap();
        assert!(presence.leave(&e, t0).await.unwrap());
        assert!(lock(&presence.state).rooms.is_empty());
    }
}
