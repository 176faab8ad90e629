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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use domain_core::StoreError;
use domain_debates::{RoomBus, RoomSink};
use serde::Deserialize;
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use crate::http::debates::MessageDto;

/// Frames a room buffers per client before that client counts as unable to keep up.
pub const OUTBOUND_QUEUE: usize = 256;

/// A frame for every client of a room, serialised once.
#[derive(Debug)]
pub struct RoomEvent {
    /// The message's sequence number for `message.created`, `None` for other frames.
    pub seq: Option<i64>,
    /// The frame's JSON text.
    pub text: String,
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
        }
        let seq = serde_json::from_str::<Peek>(&text)
            .ok()
            .filter(|p| p.kind == "message.created")
            .and_then(|p| p.message.map(|m| m.seq));
        Self { seq, text }
    }
}

type Ready = watch::Receiver<Option<Result<(), String>>>;

struct Room {
    generation: u64,
    clients: usize,
    tx: broadcast::Sender<Arc<RoomEvent>>,
    ready: Ready,
    /// Dropping it ends the owning task, which drops the bus subscription.
    _stop: oneshot::Sender<()>,
}

struct Inner {
    bus: Arc<dyn RoomBus>,
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
    /// Rooms fanned out through `bus`.
    pub fn new(bus: Arc<dyn RoomBus>) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
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
        let feed = tx.clone();
        let sink: RoomSink = Arc::new(move |text: String| {
            // Err only when no local client listens any more: nothing to do.
            let _ = feed.send(Arc::new(RoomEvent::parse(text)));
        });
        let bus = self.inner.bus.clone();
        tokio::spawn(async move {
            match bus.subscribe(session_id, sink).await {
                Ok(subscription) => {
                    let _ = ready_tx.send(Some(Ok(())));
                    // Resolves when the room is removed (its sender dropped).
                    let _ = stopped.await;
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
            ready,
            _stop: stop,
        }
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
        let hub = RoomHub::new(Arc::new(adapter_memory::MemoryRoomBus::default()));
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
}
