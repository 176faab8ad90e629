//! The debate-room bus of the embedded mode: one process, so publishing hands the payload
//! straight to the room's subscribers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use domain_core::StoreError;
use domain_debates::{RoomBus, RoomSink, RoomSubscription};
use uuid::Uuid;

type Subscribers = Mutex<HashMap<Uuid, Vec<(u64, RoomSink)>>>;

/// In-process [`RoomBus`]: a loopback to the subscribers of this process.
#[derive(Default)]
pub struct MemoryRoomBus {
    rooms: Arc<Subscribers>,
    next_id: AtomicU64,
}

struct Unsubscribe {
    rooms: Weak<Subscribers>,
    session_id: Uuid,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let Some(rooms) = self.rooms.upgrade() else {
            return;
        };
        let mut rooms = rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subs) = rooms.get_mut(&self.session_id) {
            subs.retain(|(id, _)| *id != self.id);
            if subs.is_empty() {
                rooms.remove(&self.session_id);
            }
        }
    }
}

#[async_trait]
impl RoomBus for MemoryRoomBus {
    async fn publish(&self, session_id: Uuid, payload: String) -> Result<(), StoreError> {
        // Delivered under the lock, so concurrent publishers reach every subscriber in
        // the same order (sinks only enqueue).
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subs) = rooms.get(&session_id) {
            for (_, sink) in subs {
                sink(payload.clone());
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        session_id: Uuid,
        sink: RoomSink,
    ) -> Result<RoomSubscription, StoreError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(session_id)
            .or_default()
            .push((id, sink));
        Ok(Box::new(Unsubscribe {
            rooms: Arc::downgrade(&self.rooms),
            session_id,
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_to_subscribers_until_dropped() {
        let bus = MemoryRoomBus::default();
        let room = Uuid::new_v4();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let sub = bus
            .subscribe(
                room,
                Arc::new(move |p| s.lock().unwrap_or_else(|e| e.into_inner()).push(p)),
            )
            .await;
        assert!(sub.is_ok());
        assert!(bus.publish(room, "a".into()).await.is_ok());
        assert!(bus.publish(Uuid::new_v4(), "other".into()).await.is_ok());
        drop(sub);
        assert!(bus.publish(room, "b".into()).await.is_ok());
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(seen, vec!["a".to_owned()]);
    }
}
