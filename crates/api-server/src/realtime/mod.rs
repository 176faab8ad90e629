//! The real-time platform of this instance: one [`TopicHub`] built at startup (outside
//! `HttpServer::new`) and shared by every worker and every socket.
//!
//! A topic (`debate:{id}`, `user:{id}`, see [`topic`]) is open on this instance while
//! sockets here subscribe to it: one owning task keeps the topic's bus subscription and
//! feeds a broadcast channel that the subscribed sockets read; cheap [`TopicMember`]
//! handles count the subscribers and always deregister when dropped, closing the topic
//! with the last one.
//!
//! Frames reach a topic only through the [`TopicBus`] (Redis pub/sub, or an in-process
//! loopback in the embedded mode), including on the instance that published them: each
//! instance delivers only what comes back from the bus, so nothing arrives twice. Frames
//! are published by one component, the [`Projector`], from committed domain events;
//! handlers never publish. A frame is serialised once by its publisher and parsed once
//! per receiving instance.
//!
//! Sockets live in [`connection`]: one multiplexed connection per client (`/ws/`), with
//! the legacy single-topic endpoints as pre-subscribed connections. Who may subscribe is
//! decided in [`access`]; subscriptions are rechecked when access changes
//! ([`TopicHub::access_changed`]). Presence (who is connected) lives in [`presence`].

pub mod access;
pub mod backfill;
pub mod connection;
pub mod frames;
mod presence;
pub mod projector;
mod sequencer;
pub mod topic;

pub use backfill::StoredMessages;
pub use presence::{PRESENCE_COALESCE, PRESENCE_DETAIL_LIMIT};
pub use projector::Projector;
pub use sequencer::{REORDER_WAIT, RoomBackfill};
pub use topic::Topic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use domain_core::{Clock, StoreError, TopicBus, TopicSink};
use domain_debates::{PresenceEntry, PresenceStore};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uuid::Uuid;

/// Frames a topic buffers per subscriber before that subscriber counts as unable to keep
/// up.
pub const OUTBOUND_QUEUE: usize = 256;

/// A change of who may read what, announced to every socket of this instance so that
/// subscriptions it ended are dropped at once (not at the next heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChange {
    /// One user's grants or memberships changed.
    User(Uuid),
    /// Something that may concern anybody changed (role templates, overrides, the
    /// organisation tree, a debate's visibility).
    Everyone,
}

/// A frame for every subscriber of a topic, serialised once.
#[derive(Debug)]
pub struct TopicFrame {
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
    /// Whether the target's subscription ends after receiving it (`moderation.removed`).
    pub closes_target: bool,
}

impl TopicFrame {
    fn parse(text: String) -> Self {
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        #[derive(Deserialize)]
        struct Peek {
            #[serde(rename = "type")]
            kind: String,
            topic: Option<String>,
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
                frames::ServerFrame::Presence {
                    topic: peek.topic.unwrap_or_default(),
                    count,
                    detail: None,
                }
                .to_text()
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

/// A topic open on this instance.
struct Room {
    generation: u64,
    clients: usize,
    tx: broadcast::Sender<Arc<TopicFrame>>,
    /// Into the room's sequencer (see [`sequencer`]).
    feed: mpsc::UnboundedSender<sequencer::Feed>,
    ready: Ready,
    /// Dropping it ends the owning task, which drops the bus subscription.
    _stop: oneshot::Sender<()>,
}

struct Inner {
    bus: Arc<dyn TopicBus>,
    backfill: Arc<dyn RoomBackfill>,
    presence: presence::PresenceBoard,
    rooms: Mutex<HashMap<Topic, Room>>,
    generation: AtomicU64,
    shutdown: watch::Sender<bool>,
    access: broadcast::Sender<AccessChange>,
}

/// The topics of this instance. Cloning is cheap.
#[derive(Clone)]
pub struct TopicHub {
    inner: Arc<Inner>,
}

/// One subscriber's place in a topic: its feed of frames, and the guard that leaves the
/// topic when dropped.
pub struct TopicMember {
    /// Leaves the topic when dropped.
    pub guard: MemberGuard,
    /// Frames of the topic, in order (see [`sequencer`]).
    pub events: broadcast::Receiver<Arc<TopicFrame>>,
}

/// Counts one subscriber of a topic; the last one dropped closes the topic on this
/// instance.
pub struct MemberGuard {
    hub: TopicHub,
    topic: Topic,
    generation: u64,
}

impl Drop for MemberGuard {
    fn drop(&mut self) {
        let mut rooms = self.hub.lock();
        if let Some(room) = rooms.get_mut(&self.topic)
            && room.generation == self.generation
        {
            room.clients = room.clients.saturating_sub(1);
            if room.clients == 0 {
                rooms.remove(&self.topic);
            }
        }
    }
}

impl TopicHub {
    /// Topics fanned out through `bus` (gaps in a room's order read through
    /// `backfill`), with room connections recorded in `presence` for `presence_ttl` after
    /// their last heartbeat.
    pub fn new(
        bus: Arc<dyn TopicBus>,
        backfill: Arc<dyn RoomBackfill>,
        presence: Arc<dyn PresenceStore>,
        clock: Arc<dyn Clock>,
        presence_ttl: std::time::Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                backfill,
                presence: presence::PresenceBoard::new(presence, clock, presence_ttl),
                rooms: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                shutdown: watch::channel(false).0,
                access: broadcast::channel(ACCESS_QUEUE).0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, Room>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the topic's sequencer where the stored sequence stood when a subscription
    /// started (it ignores this once it has passed frames on).
    pub fn baseline(&self, topic: Topic, newest_seq: i64) {
        if let Some(room) = self.lock().get(&topic) {
            let _ = room.feed.send(sequencer::Feed::Baseline(newest_seq));
        }
    }

    /// Number of topics with local subscribers.
    pub fn open_topics(&self) -> usize {
        self.lock().len()
    }

    /// Subscribes to `topic`, subscribing this instance to it on the bus if it is the
    /// first local subscriber. Returns once the bus subscription is confirmed, so every
    /// frame published afterwards reaches the member.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be subscribed.
    pub async fn join(&self, topic: Topic) -> Result<TopicMember, StoreError> {
        let (member, mut ready) = {
            let mut rooms = self.lock();
            let room = rooms.entry(topic).or_insert_with(|| self.open(topic));
            room.clients += 1;
            (
                TopicMember {
                    guard: MemberGuard {
                        hub: self.clone(),
                        topic,
                        generation: room.generation,
                    },
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

    /// Creates a topic and its owning task (called under the lock; the task subscribes).
    fn open(&self, topic: Topic) -> Room {
        let (tx, _) = broadcast::channel(OUTBOUND_QUEUE);
        let (ready_tx, ready) = watch::channel(None);
        let (stop, stopped) = oneshot::channel::<()>();
        let (feed, feed_rx) = mpsc::unbounded_channel();
        let into_sequencer = feed.clone();
        let sink: TopicSink = Arc::new(move |text: String| {
            // Err only when the room is gone: nothing to do.
            let _ = into_sequencer.send(sequencer::Feed::Frame(text));
        });
        let bus = self.inner.bus.clone();
        let backfill = self.inner.backfill.clone();
        let out = tx.clone();
        tokio::spawn(async move {
            match bus.subscribe(&topic.to_string(), sink).await {
                Ok(subscription) => {
                    let _ = ready_tx.send(Some(Ok(())));
                    // Returns when the topic is removed (its stop sender dropped). Only
                    // resumable topics carry sequence numbers; other frames pass straight
                    // through the sequencer.
                    sequencer::run(topic.id(), feed_rx, out, backfill, stopped).await;
                    drop(subscription);
                }
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "cannot subscribe to a topic");
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
                && let Err(e) = hub
                    .inner
                    .bus
                    .publish(&Topic::Debate(session_id).to_string(), frame)
                    .await
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

    /// Tells every socket of this instance that access changed, so each rechecks the
    /// subscriptions it concerns at once.
    pub fn access_changed(&self, change: AccessChange) {
        // Err only when no socket is open: nothing to recheck.
        let _ = self.inner.access.send(change);
    }

    /// The access changes announced from now on.
    pub fn access_changes(&self) -> broadcast::Receiver<AccessChange> {
        self.inner.access.subscribe()
    }
}

/// Access changes buffered per socket; a socket that falls further behind rechecks all
/// its subscriptions (it cannot know which changes it missed).
const ACCESS_QUEUE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    struct NoBackfill;
    #[async_trait::async_trait]
    impl RoomBackfill for NoBackfill {
        async fn frames(&self, _: Uuid, _: i64, _: i64) -> Result<Vec<String>, String> {
            Ok(vec![])
        }
    }

    #[tokio::test]
    async fn a_topic_lives_while_it_has_subscribers() {
        let bus = Arc::new(adapter_memory::MemoryTopicBus::default());
        let hub = TopicHub::new(
            bus.clone(),
            Arc::new(NoBackfill),
            Arc::new(adapter_memory::MemoryPresence::default()),
            Arc::new(domain_core::SystemClock),
            std::time::Duration::from_secs(30),
        );
        let room = Topic::Debate(Uuid::new_v4());
        let a = hub.join(room).await;
        let b = hub.join(room).await;
        let other = hub.join(Topic::User(Uuid::new_v4())).await;
        assert!(a.is_ok() && b.is_ok() && other.is_ok());
        assert_eq!(hub.open_topics(), 2);
        let mut b = b.unwrap_or_else(|_| unreachable!());
        let status = frames::ServerFrame::SessionStatus {
            topic: room.to_string(),
            status: "live".into(),
        };
        assert!(
            bus.publish(&room.to_string(), status.to_text())
                .await
                .is_ok()
        );
        let ev = b.events.recv().await;
        assert!(ev.is_ok_and(|e| e.seq.is_none() && e.text.contains("live")));
        drop(a);
        drop(other);
        assert_eq!(hub.open_topics(), 1);
        drop(b);
        assert_eq!(hub.open_topics(), 0);
    }

    #[test]
    fn seq_is_read_from_message_frames_only() {
        let e = TopicFrame::parse(r#"{"type":"message.created","message":{"seq":7}}"#.into());
        assert_eq!(e.seq, Some(7));
        let e = TopicFrame::parse(r#"{"type":"session.status","status":"live"}"#.into());
        assert_eq!(e.seq, None);
    }

    #[test]
    fn presence_detail_is_only_for_those_who_may_see_it() {
        let who = frames::Visitor {
            user_id: Uuid::nil(),
            username: "ada".into(),
        };
        let topic = Topic::Debate(Uuid::nil());
        let frame = presence::presence_frame(topic, 3, &[], &[who], &[]);
        let e = TopicFrame::parse(frame.clone());
        assert_eq!(&**e.text_for(true), frame.as_str());
        let public: serde_json::Value = serde_json::from_str(e.text_for(false)).unwrap();
        assert_eq!(
            public,
            serde_json::json!({"type": "presence", "topic": topic.to_string(), "count": 3})
        );
        // other frames are the same for everybody
        let e = TopicFrame::parse(r#"{"type":"session.status","status":"live"}"#.into());
        assert_eq!(e.text_for(false), e.text_for(true));
    }
}
