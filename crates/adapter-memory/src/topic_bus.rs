//! The topic bus of the embedded mode: one process, so publishing hands the payload
//! straight to the topic's subscribers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use domain_core::StoreError;
use domain_core::{TopicBus, TopicSink, TopicSubscription};

type Subscribers = Mutex<HashMap<String, Vec<(u64, TopicSink)>>>;

/// In-process [`TopicBus`]: a loopback to the subscribers of this process.
#[derive(Default)]
pub struct MemoryTopicBus {
    topics: Arc<Subscribers>,
    next_id: AtomicU64,
}

struct Unsubscribe {
    topics: Weak<Subscribers>,
    topic: String,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        let mut topics = topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subs) = topics.get_mut(&self.topic) {
            subs.retain(|(id, _)| *id != self.id);
            if subs.is_empty() {
                topics.remove(&self.topic);
            }
        }
    }
}

#[async_trait]
impl TopicBus for MemoryTopicBus {
    async fn publish(&self, topic: &str, payload: String) -> Result<(), StoreError> {
        // Delivered under the lock, so concurrent publishers reach every subscriber in
        // the same order (sinks only enqueue).
        let topics = self
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subs) = topics.get(topic) {
            for (_, sink) in subs {
                sink(payload.clone());
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        sink: TopicSink,
    ) -> Result<TopicSubscription, StoreError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(topic.to_owned())
            .or_default()
            .push((id, sink));
        Ok(Box::new(Unsubscribe {
            topics: Arc::downgrade(&self.topics),
            topic: topic.to_owned(),
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_to_subscribers_until_dropped() {
        let bus = MemoryTopicBus::default();
        let room = "debate:1";
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
        assert!(bus.publish("debate:2", "other".into()).await.is_ok());
        drop(sub);
        assert!(bus.publish(room, "b".into()).await.is_ok());
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(seen, vec!["a".to_owned()]);
    }
}
