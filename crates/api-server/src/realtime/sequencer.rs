//! Puts a room's `message.created` frames back in sequence order, once per instance.
//!
//! Two arguments stored a moment apart can reach the bus in the other order (each is
//! published by the task that stored it). Left alone, every connection of the room would
//! see the gap and read the missing message from storage itself — a thousand clients, a
//! thousand reads, at once. Instead the room's owning task holds an early frame back for
//! up to [`REORDER_WAIT`] while the missing one arrives (it nearly always does within a
//! millisecond or two), and only if it does not reads the gap from storage — once for the
//! whole instance — through [`RoomBackfill`]. Connections keep their own gap check as a
//! safety net (a connection that joined mid-gap, a lagging subscription).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::TopicFrame;

/// Longest an early frame waits for the ones before it before they are read from storage.
pub const REORDER_WAIT: Duration = Duration::from_millis(100);

/// Reads stored messages of a room as ready `message.created` frames.
#[async_trait]
pub trait RoomBackfill: Send + Sync {
    /// The frames of the messages with `after < seq < before`, ascending.
    async fn frames(
        &self,
        session_id: Uuid,
        after: i64,
        before: i64,
    ) -> Result<Vec<String>, String>;
}

/// What reaches a room's owning task.
pub(super) enum Feed {
    /// A frame from the bus.
    Frame(String),
    /// The newest stored sequence number a joining connection started from: what the room
    /// has "delivered" before its first frame.
    Baseline(i64),
}

/// The in-order state of one room.
struct Sequencer {
    session_id: Uuid,
    /// The last sequence number passed on (None until the first).
    last: Option<i64>,
    /// Frames that arrived early, by sequence number.
    early: BTreeMap<i64, Arc<TopicFrame>>,
    /// When the oldest early frame stops waiting.
    deadline: Option<Instant>,
    out: broadcast::Sender<Arc<TopicFrame>>,
}

impl Sequencer {
    fn pass(&mut self, ev: Arc<TopicFrame>) {
        if let Some(seq) = ev.seq {
            self.last = Some(seq);
        }
        // Err only when no local client listens any more: nothing to do.
        let _ = self.out.send(ev);
    }

    /// Passes on every early frame that is now next in line.
    fn drain(&mut self) {
        while let Some(last) = self.last
            && let Some(ev) = self.early.remove(&(last + 1))
        {
            self.pass(ev);
        }
        // anything at or below `last` is a duplicate
        if let Some(last) = self.last {
            self.early.retain(|seq, _| *seq > last);
        }
        self.deadline = if self.early.is_empty() {
            None
        } else {
            self.deadline
                .or_else(|| Some(Instant::now() + REORDER_WAIT))
        };
    }

    fn on_frame(&mut self, ev: TopicFrame) {
        let ev = Arc::new(ev);
        match (ev.seq, self.last) {
            (None, _) => {
                let _ = self.out.send(ev);
            }
            (Some(_), None) => self.pass(ev),
            (Some(seq), Some(last)) if seq == last + 1 => {
                self.pass(ev);
                self.drain();
            }
            (Some(seq), Some(last)) if seq <= last => {}
            (Some(seq), Some(_)) => {
                self.early.insert(seq, ev);
                self.drain();
            }
        }
    }

    fn on_baseline(&mut self, seq: i64) {
        if self.last.is_none() {
            self.last = Some(seq);
            self.drain();
        }
    }

    /// The wait is over: read the gap below the oldest early frame, pass it on, go on.
    async fn give_up_waiting(&mut self, backfill: &dyn RoomBackfill) {
        let (Some(last), Some((&first_early, _))) = (self.last, self.early.first_key_value())
        else {
            self.deadline = None;
            return;
        };
        match backfill.frames(self.session_id, last, first_early).await {
            Ok(frames) => {
                for text in frames {
                    let ev = TopicFrame::parse(text);
                    if ev.seq.is_some_and(|s| s > self.last.unwrap_or(i64::MIN)) {
                        self.pass(Arc::new(ev));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(session_id = %self.session_id, error = %e, "cannot fill a gap in a room; clients fill it themselves");
            }
        }
        // Whatever storage had, the early frames go now; a gap left is filled per
        // connection.
        if let Some(last) = self.last {
            self.early.retain(|seq, _| *seq > last);
        }
        if let Some((&seq, _)) = self.early.first_key_value() {
            self.last = Some(seq - 1);
        }
        self.deadline = None;
        self.drain();
    }
}

/// Runs a room's feed until `stopped`: frames in, frames out in order.
pub(super) async fn run(
    session_id: Uuid,
    mut feed: mpsc::UnboundedReceiver<Feed>,
    out: broadcast::Sender<Arc<TopicFrame>>,
    backfill: Arc<dyn RoomBackfill>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut seq = Sequencer {
        session_id,
        last: None,
        early: BTreeMap::new(),
        deadline: None,
        out,
    };
    loop {
        let deadline = seq.deadline;
        tokio::select! {
            _ = &mut stopped => return,
            item = feed.recv() => match item {
                Some(Feed::Frame(text)) => seq.on_frame(TopicFrame::parse(text)),
                Some(Feed::Baseline(n)) => seq.on_baseline(n),
                None => return,
            },
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => seq.give_up_waiting(backfill.as_ref()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn frame(seq: i64) -> Feed {
        Feed::Frame(format!(
            r#"{{"type":"message.created","message":{{"seq":{seq}}}}}"#
        ))
    }

    /// Storage holding messages 1..=100 and recording what it was asked.
    #[derive(Default)]
    struct Storage(Mutex<Vec<(i64, i64)>>);

    #[async_trait]
    impl RoomBackfill for Storage {
        async fn frames(&self, _: Uuid, after: i64, before: i64) -> Result<Vec<String>, String> {
            self.0.lock().unwrap().push((after, before));
            Ok(((after + 1)..before)
                .map(|s| format!(r#"{{"type":"message.created","message":{{"seq":{s}}}}}"#))
                .collect())
        }
    }

    async fn seqs(rx: &mut broadcast::Receiver<Arc<TopicFrame>>, n: usize) -> Vec<i64> {
        let mut out = Vec::new();
        while out.len() < n {
            let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .unwrap()
                .unwrap();
            out.push(ev.seq.unwrap_or(-1));
        }
        out
    }

    #[tokio::test]
    async fn frames_come_out_in_order_without_reading_storage() {
        let (tx, mut rx) = broadcast::channel(64);
        let (feed, feed_rx) = mpsc::unbounded_channel();
        let (_stop, stopped) = oneshot::channel();
        let storage = Arc::new(Storage::default());
        tokio::spawn(run(Uuid::nil(), feed_rx, tx, storage.clone(), stopped));
        for f in [
            Feed::Baseline(0),
            frame(2),
            frame(1),
            frame(3),
            frame(3),
            frame(5),
            frame(4),
        ] {
            feed.send(f).unwrap();
        }
        feed.send(Feed::Frame(r#"{"type":"session.status"}"#.into()))
            .unwrap();
        assert_eq!(seqs(&mut rx, 6).await, [1, 2, 3, 4, 5, -1]);
        assert!(storage.0.lock().unwrap().is_empty(), "no storage read");
    }

    #[tokio::test]
    async fn a_gap_that_stays_open_is_read_from_storage_once() {
        let (tx, mut rx) = broadcast::channel(64);
        let (feed, feed_rx) = mpsc::unbounded_channel();
        let (_stop, stopped) = oneshot::channel();
        let storage = Arc::new(Storage::default());
        tokio::spawn(run(Uuid::nil(), feed_rx, tx, storage.clone(), stopped));
        for f in [Feed::Baseline(10), frame(11), frame(14), frame(15)] {
            feed.send(f).unwrap();
        }
        assert_eq!(seqs(&mut rx, 5).await, [11, 12, 13, 14, 15]);
        assert_eq!(*storage.0.lock().unwrap(), [(11, 14)]);
        // and it goes on from there
        feed.send(frame(16)).unwrap();
        assert_eq!(seqs(&mut rx, 1).await, [16]);
    }
}
