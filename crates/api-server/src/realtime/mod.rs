//! The debate rooms of this instance: a [`RoomHub`] built once at startup (outside
//! `HttpServer::new`) and shared by every worker. A room exists while this instance has
//! clients in it: one owning task keeps the room's bus subscription and feeds a broadcast
//! channel that the room's connections read; cheap [`RoomMember`] handles count the
//! clients and always deregister when dropped, closing the room with the last one.
//!
//! Every frame reaches the room through the [`RoomBus`] (Redis pub/sub, or an in-process
//! loopback in the embedded mode), including on the instance that published it: each
//! instance delivers only what comes back from the bus, so nothing arrives twice. A frame
//! is serialised once by its publisher and parsed once per receiving instance.
//!
//! Presence (who is connected) lives in [`presence`].

mod presence;
mod sequencer;

pub use presence::{PRESENCE_COALESCE, PRESENCE_DETAIL_LIMIT, Visitor};
pub use sequencer::{REORDER_WAIT, RoomBackfill};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use domain_core::{Clock, StoreError};
use domain_debates::{PresenceEntry, PresenceStore, RoomBus, RoomSink};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uuid::Uuid;

use crate::http::debates::MessageDto;

/// Frames a room buffers per client before that client counts as unable to keep up.
pub const OUTBOUND_QUEUE: usize = 256;

/// A frame for every client of a room, serialised once.
#[derive(Debug)]
pub struct RoomEvent {
    /// The message's sequence number for `message.created`, `None` for other frames.
    pub seq: Option<i64>,
    /// The frame's JSON text. A `ByteString`: each connection's copy shares the buffer
    /// (a room of 1000 sends 1000 of them per message; a `String` clone each was a
    /// malloc, a copy and a free per delivery).
    pub text: bytestring::ByteString,
    /// What clients without the right to the frame's detail get instead (a `presence`
    /// frame's count without who), prepared once per instance.
    pub public_text: Option<bytestring::ByteString>,
    /// For frames about one participant (`moderation.*`): only their connections and
    /// those of moderators receive it.
    pub target: Option<Uuid>,
    /// Whether the target's connections close after receiving it (`moderation.removed`).
    pub closes_target: bool,
}

impl RoomEvent {
    fn parse(text: String) -> Self {
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        #[derive(Deserialize)]
        struct Peek {
            #[serde(rename = "type")]
            kind: String,
            message: Option<Seq>,
            count: Option<u64>,
            target: Option<Uuid>,
        }
        let Ok(peek) = serde_json::from_str::<Peek>(&text) else {
            return Self {
                seq: None,
                text: text.into(),
                public_text: None,
                target: None,
                closes_target: false,
            };
        };
        let seq = match (peek.kind.as_str(), peek.message) {
            ("message.created", Some(m)) => Some(m.seq),
            _ => None,
        };
        let public_text = match (peek.kind.as_str(), peek.count) {
            ("presence", Some(count)) => Some(
                serde_json::json!({"type": "presence", "count": count})
                    .to_string()
                    .into(),
            ),
            _ => None,
        };
        Self {
            seq,
            closes_target: peek.target.is_some() && peek.kind == "moderation.removed",
            target: peek.target,
            text: text.into(),
            public_text,
        }
    }

    /// The text a client gets: the whole frame if it may see the detail.
    pub fn text_for(&self, sees_detail: bool) -> &bytestring::ByteString {
        match &self.public_text {
            Some(public) if !sees_detail => public,
            _ => &self.text,
        }
    }
}

type Ready = watch::Receiver<Option<Result<(), String>>>;

struct Room {
    generation: u64,
    clients: usize,
    tx: broadcast::Sender<Arc<RoomEvent>>,
    /// Into the room's sequencer (see [`sequencer`]).
    feed: mpsc::UnboundedSender<sequencer::Feed>,
    ready: Ready,
    /// Dropping it ends the owning task, which drops the bus subscription.
    _stop: oneshot::Sender<()>,
}

struct Inner {
    bus: Arc<dyn RoomBus>,
    backfill: Arc<dyn RoomBackfill>,
    /// Frames scheduled by [`RoomHub::publish_coalesced`], by room and kind.
    coalescing: Mutex<std::collections::HashSet<(Uuid, &'static str)>>,
    presence: presence::PresenceBoard,
    rooms: Mutex<HashMap<Uuid, Room>>,
    generation: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// The rooms of this instance. Cloning is cheap.
#[derive(Clone)]
pub struct RoomHub {
    inner: Arc<Inner>,
}

/// One client's place in a room: its feed of frames. Leaves the room when dropped.
pub struct RoomMember {
    hub: RoomHub,
    session_id: Uuid,
    generation: u64,
    /// Frames of the room, in the order the bus delivered them.
    pub events: broadcast::Receiver<Arc<RoomEvent>>,
}

impl Drop for RoomMember {
    fn drop(&mut self) {
        let mut rooms = self.hub.lock();
        if let Some(room) = rooms.get_mut(&self.session_id)
            && room.generation == self.generation
        {
            room.clients = room.clients.saturating_sub(1);
            if room.clients == 0 {
                rooms.remove(&self.session_id);
            }
        }
    }
}

impl RoomHub {
    /// Rooms fanned out through `bus` (gaps in their order read through `backfill`),
    /// with connections recorded in `presence` for `presence_ttl` after their last
    /// heartbeat.
    pub fn new(
        bus: Arc<dyn RoomBus>,
        backfill: Arc<dyn RoomBackfill>,
        presence: Arc<dyn PresenceStore>,
        clock: Arc<dyn Clock>,
        presence_ttl: std::time::Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                backfill,
                coalescing: Mutex::default(),
                presence: presence::PresenceBoard::new(presence, clock, presence_ttl),
                rooms: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                shutdown: watch::channel(false).0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Room>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the room's sequencer where the stored sequence stood when a connection
    /// started (it ignores this once it has passed frames on).
    pub fn baseline(&self, session_id: Uuid, newest_seq: i64) {
        if let Some(room) = self.lock().get(&session_id) {
            let _ = room.feed.send(sequencer::Feed::Baseline(newest_seq));
        }
    }

    /// Number of rooms with local clients.
    pub fn open_rooms(&self) -> usize {
        self.lock().len()
    }

    /// Enters the room of `session_id`, subscribing this instance to it if it is the
    /// first local client. Returns once the subscription is confirmed, so every frame
    /// published afterwards reaches the member.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be subscribed.
    pub async fn join(&self, session_id: Uuid) -> Result<RoomMember, StoreError> {
        let (member, mut ready) = {
            let mut rooms = self.lock();
            let room = rooms
                .entry(session_id)
                .or_insert_with(|| self.open(session_id));
            room.clients += 1;
            (
                RoomMember {
                    hub: self.clone(),
                    session_id,
                    generation: room.generation,
                    events: room.tx.subscribe(),
                },
                room.ready.clone(),
            )
        };
        let outcome = ready
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("room closed while joining".into()))?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(member),
            Some(Err(why)) => Err(StoreError::Unavailable(why)),
            None => Err(StoreError::Unavailable("room not ready".into())),
        }
    }

    /// Creates a room and its owning task (called under the lock; the task subscribes).
    fn open(&self, session_id: Uuid) -> Room {
        let (tx, _) = broadcast::channel(OUTBOUND_QUEUE);
        let (ready_tx, ready) = watch::channel(None);
        let (stop, stopped) = oneshot::channel::<()>();
        let (feed, feed_rx) = mpsc::unbounded_channel();
        let into_sequencer = feed.clone();
        let sink: RoomSink = Arc::new(move |text: String| {
            // Err only when the room is gone: nothing to do.
            let _ = into_sequencer.send(sequencer::Feed::Frame(text));
        });
        let bus = self.inner.bus.clone();
        let backfill = self.inner.backfill.clone();
        let out = tx.clone();
        tokio::spawn(async move {
            match bus.subscribe(session_id, sink).await {
                Ok(subscription) => {
                    let _ = ready_tx.send(Some(Ok(())));
                    // Returns when the room is removed (its stop sender dropped).
                    sequencer::run(session_id, feed_rx, out, backfill, stopped).await;
                    drop(subscription);
                }
                Err(e) => {
                    tracing::warn!(%session_id, error = %e, "cannot subscribe to a debate room");
                    let _ = ready_tx.send(Some(Err(e.to_string())));
                }
            }
        });
        Room {
            generation: self.inner.generation.fetch_add(1, Ordering::Relaxed),
            clients: 0,
            tx,
            feed,
            ready,
            _stop: stop,
        }
    }

    /// Broadcasts a frame to the room on every instance. A frame with a `target` (a user
    /// id) reaches only that user's connections and moderators'; `moderation.removed`
    /// also closes the target's connections.
    pub async fn publish_frame(&self, session_id: Uuid, frame: &serde_json::Value) {
        self.publish(session_id, frame).await;
    }

    /// Runs `frame` once after `delay` and publishes what it returns, however many times
    /// this is called for the same room and `kind` meanwhile (coalescing bursts, such as
    /// a wave of votes, into one frame per instance).
    pub fn publish_coalesced<F, Fut>(
        &self,
        session_id: Uuid,
        kind: &'static str,
        delay: std::time::Duration,
        frame: F,
    ) where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Option<String>> + Send,
    {
        let key = (session_id, kind);
        if !self
            .inner
            .coalescing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key)
        {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // Removed before reading, so a change during the read schedules another frame.
            hub.inner
                .coalescing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            if let Some(text) = frame().await
                && let Err(e) = hub.inner.bus.publish(session_id, text).await
            {
                tracing::warn!(%session_id, kind, error = %e, "could not broadcast to a debate room");
            }
        });
    }

    async fn publish(&self, session_id: Uuid, frame: &serde_json::Value) {
        let text = frame.to_string();
        if let Err(e) = self.inner.bus.publish(session_id, text).await {
            // Stored already; clients catch up from storage on their next message or
            // when they resume.
            tracing::warn!(%session_id, error = %e, "could not broadcast to a debate room");
        }
    }

    /// Broadcasts a stored message to every client of its room on every instance.
    pub async fn message_created(&self, session_id: Uuid, message: &MessageDto) {
        self.publish(
            session_id,
            &serde_json::json!({"type": "message.created", "message": message}),
        )
        .await;
    }

    /// Broadcasts a session's new status (`live`, `closed`).
    pub async fn session_status(&self, session_id: Uuid, status: &str) {
        self.publish(
            session_id,
            &serde_json::json!({"type": "session.status", "status": status}),
        )
        .await;
    }

    /// Broadcasts a seat taken (`participant.joined`) or left (`participant.left`).
    pub async fn seat_changed(
        &self,
        session_id: Uuid,
        joined: bool,
        participant: &impl serde::Serialize,
    ) {
        let kind = if joined {
            "participant.joined"
        } else {
            "participant.left"
        };
        self.publish(
            session_id,
            &serde_json::json!({"type": kind, "participant": participant}),
        )
        .await;
    }

    /// How long a connection counts as present after its last refresh; connections
    /// refresh well within it.
    pub fn presence_ttl(&self) -> std::time::Duration {
        self.inner.presence.ttl()
    }

    /// Records a connection as present and announces it (coalesced).
    pub async fn arrive(&self, entry: &PresenceEntry) {
        if self.inner.presence.enter(entry).await {
            self.announce_presence(entry.session_id);
        }
    }

    /// Extends a connection's presence.
    pub async fn still_here(&self, entry: &PresenceEntry) {
        self.inner.presence.refresh(entry).await;
    }

    /// Removes a connection from presence and announces a departure (coalesced).
    pub async fn depart(&self, entry: &PresenceEntry) {
        if self.inner.presence.leave(entry).await {
            self.announce_presence(entry.session_id);
        }
    }

    /// Publishes the room's `presence` frame after [`PRESENCE_COALESCE`].
    fn announce_presence(&self, session_id: Uuid) {
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PRESENCE_COALESCE).await;
            if let Some(frame) = hub.inner.presence.frame(session_id).await
                && let Err(e) = hub.inner.bus.publish(session_id, frame).await
            {
                tracing::warn!(%session_id, error = %e, "could not announce presence");
            }
        });
    }

    /// Tells every connection of this instance to close with 1001 (going away).
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Becomes `true` when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_room_lives_while_it_has_members() {
        struct NoBackfill;
        #[async_trait::async_trait]
        impl RoomBackfill for NoBackfill {
            async fn frames(&self, _: Uuid, _: i64, _: i64) -> Result<Vec<String>, String> {
                Ok(vec![])
            }
        }
        let hub = RoomHub::new(
            Arc::new(adapter_memory::MemoryRoomBus::default()),
            Arc::new(NoBackfill),
            Arc::new(adapter_memory::MemoryPresence::default()),
            Arc::new(domain_core::SystemClock),
            std::time::Duration::from_secs(30),
        );
        let room = Uuid::new_v4();
        let a = hub.join(room).await;
        let b = hub.join(room).await;
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(hub.open_rooms(), 1);
        let mut b = b.unwrap_or_else(|_| unreachable!());
        hub.session_status(room, "live").await;
        let ev = b.events.recv().await;
        assert!(ev.is_ok_and(|e| e.seq.is_none() && e.text.contains("live")));
        drop(a);
        assert_eq!(hub.open_rooms(), 1);
        drop(b);
        assert_eq!(hub.open_rooms(), 0);
    }

    #[test]
    fn seq_is_read_from_message_frames_only() {
        let e = RoomEvent::parse(r#"{"type":"message.created","message":{"seq":7}}"#.into());
        assert_eq!(e.seq, Some(7));
        let e = RoomEvent::parse(r#"{"type":"session.status","status":"live"}"#.into());
        assert_eq!(e.seq, None);
    }

    #[test]
    fn presence_detail_is_only_for_those_who_may_see_it() {
        let who = Visitor {
            user_id: Uuid::nil(),
            username: "ada".into(),
        };
        let frame = presence::presence_frame(3, &[], &[who], &[]).to_string();
        let e = RoomEvent::parse(frame.clone());
        assert_eq!(&**e.text_for(true), frame.as_str());
        let public: serde_json::Value = serde_json::from_str(e.text_for(false)).unwrap();
        assert_eq!(public, serde_json::json!({"type": "presence", "count": 3}));
        // other frames are the same for everybody
        let e = RoomEvent::parse(r#"{"type":"session.status","status":"live"}"#.into());
        assert_eq!(e.text_for(false), e.text_for(true));
    }
}
