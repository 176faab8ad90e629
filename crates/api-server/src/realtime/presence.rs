//! Who is connected to a room: every connection is recorded in the [`PresenceStore`]
//! (Redis with expiry, so a crashed instance's connections age out) and refreshed on each
//! heartbeat. Changes are announced to the room as `presence` frames, coalesced per room
//! and instance so that a class connecting at once produces one frame a second, not one
//! per arrival. Every client gets the count; the frame's `detail` (who, who arrived, who
//! left) goes only to connections allowed to see it (see `RoomEvent::public_text`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain_core::Clock;
use domain_debates::{PresenceEntry, PresenceStore, PresentUser};
use uuid::Uuid;

use super::Topic;
use super::frames::{PresenceDetail, PresentUserDto, ServerFrame, Visitor};

/// How long after the first change in a room its `presence` frame goes out; changes
/// meanwhile ride along in the same frame.
pub const PRESENCE_COALESCE: Duration = Duration::from_millis(500);
/// Most users listed in a frame's detail (the count is always exact).
pub const PRESENCE_DETAIL_LIMIT: u32 = 200;

/// Arrivals and departures seen by this instance since its last frame for the room.
#[derive(Default)]
struct Changes {
    joined: Vec<Visitor>,
    left: Vec<Visitor>,
}

/// The presence side of the rooms of one instance.
pub(crate) struct PresenceBoard {
    store: Arc<dyn PresenceStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    /// Rooms with a frame scheduled, and what changed since the last one.
    pending: Mutex<HashMap<Uuid, Changes>>,
}

fn ttl_delta(ttl: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::seconds(30))
}

impl PresenceBoard {
    pub(crate) fn new(store: Arc<dyn PresenceStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            ttl,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// How long a connection counts as present without a refresh.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Records a connection. Returns `true` when the room's next frame must be scheduled
    /// (none is pending). A frame is always due: the new connection needs the current
    /// state, and a first arrival changes it.
    pub(crate) async fn enter(&self, entry: &PresenceEntry) -> bool {
        let now = self.clock.now();
        let arrived = match self
            .store
            .enter(entry, now + ttl_delta(self.ttl), now)
            .await
        {
            Ok(arrived) => arrived,
            Err(e) => {
                tracing::warn!(session_id = %entry.session_id, error = %e, "presence not recorded");
                false
            }
        };
        self.note(entry.session_id, arrived.then(|| (true, visitor(entry))))
    }

    /// Extends a connection's presence (each heartbeat).
    pub(crate) async fn refresh(&self, entry: &PresenceEntry) {
        let expires_at = self.clock.now() + ttl_delta(self.ttl);
        if let Err(e) = self.store.refresh(entry, expires_at).await {
            tracing::warn!(session_id = %entry.session_id, error = %e, "presence not refreshed");
        }
    }

    /// Removes a connection. Returns `true` when the room's next frame must be scheduled:
    /// this was the user's last connection and no frame is pending.
    pub(crate) async fn leave(&self, entry: &PresenceEntry) -> bool {
        match self.store.leave(entry, self.clock.now()).await {
            Ok(true) => self.note(entry.session_id, Some((false, visitor(entry)))),
            Ok(false) => false,
            Err(e) => {
                // it ages out of the store by itself
                tracing::warn!(session_id = %entry.session_id, error = %e, "presence not removed");
                false
            }
        }
    }

    /// Adds a change (`(arrived, who)`) to the room's pending frame; `true` when there was
    /// no pending frame, so the caller schedules one.
    fn note(&self, session_id: Uuid, change: Option<(bool, Visitor)>) -> bool {
        let mut pending = self.lock();
        let fresh = !pending.contains_key(&session_id);
        let changes = pending.entry(session_id).or_default();
        match change {
            Some((true, who)) => changes.joined.push(who),
            Some((false, who)) => changes.left.push(who),
            None => {}
        }
        fresh
    }

    /// The frame announcing the room's presence now, with the changes since the last one.
    pub(crate) async fn frame(&self, session_id: Uuid) -> Option<String> {
        let changes = self.lock().remove(&session_id).unwrap_or_default();
        let now = self.clock.now();
        let users = match self
            .store
            .present(session_id, now, PRESENCE_DETAIL_LIMIT)
            .await
        {
            Ok(users) => users,
            Err(e) => {
                tracing::warn!(%session_id, error = %e, "presence not readable");
                return None;
            }
        };
        // The list is of distinct users: below the limit it is the count, and only a
        // crowded room costs a second round trip.
        let count = if users.len() < PRESENCE_DETAIL_LIMIT as usize {
            users.len() as u64
        } else {
            match self.store.count(session_id, now).await {
                Ok(count) => count,
                Err(e) => {
                    tracing::warn!(%session_id, error = %e, "presence not readable");
                    return None;
                }
            }
        };
        Some(presence_frame(
            Topic::Debate(session_id),
            count,
            &users,
            &changes.joined,
            &changes.left,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Changes>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn visitor(entry: &PresenceEntry) -> Visitor {
    Visitor {
        user_id: entry.user_id,
        username: entry.username.clone(),
    }
}

/// The `presence` frame: `count` for everybody, `detail` for moderators.
pub(crate) fn presence_frame(
    topic: Topic,
    count: u64,
    users: &[PresentUser],
    joined: &[Visitor],
    left: &[Visitor],
) -> String {
    let users: Vec<_> = users
        .iter()
        .map(|u| PresentUserDto {
            user_id: u.user_id,
            username: u.username.clone(),
            connections: u.connections,
        })
        .collect();
    ServerFrame::Presence {
        topic: topic.to_string(),
        count,
        detail: Some(PresenceDetail {
            truncated: (users.len() as u64) < count,
            users,
            joined: joined.to_vec(),
            left: left.to_vec(),
        }),
    }
    .to_text()
}
