//! The neutral publish/subscribe port every real-time feature shares: payloads
//! (already-serialised frames) published to a named topic reach every subscriber of that
//! topic on every server instance — Redis pub/sub in production, an in-process loopback
//! in the embedded mode.
//!
//! Topic names are `{kind}:{id}` (`debate:{session_id}`, `user:{user_id}`, later
//! `chat:{channel_id}`, `post:{id}`, `presence:{scope}`); what a kind means, who may
//! subscribe and whether it resumes by sequence number is decided by the real-time layer
//! that uses the bus, not here.

use async_trait::async_trait;

use crate::StoreError;

/// Receives every payload published to a topic (see [`TopicBus::subscribe`]). Called
/// from the bus's own task: it must not block.
pub type TopicSink = std::sync::Arc<dyn Fn(String) + Send + Sync>;

/// Keeps a topic subscription alive; dropping it unsubscribes.
pub type TopicSubscription = Box<dyn std::any::Any + Send + Sync>;

/// Fan-out of a topic's payloads to every server instance subscribed to it. The
/// publishing instance receives its own payloads back like every other subscriber, so
/// delivering only what comes from the bus delivers each payload once.
#[async_trait]
pub trait TopicBus: Send + Sync {
    /// Sends `payload` to every current subscriber of `topic`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be reached.
    async fn publish(&self, topic: &str, payload: String) -> Result<(), StoreError>;

    /// Delivers to `sink` everything published to `topic` from the moment this returns
    /// (the subscription is confirmed) until the returned guard is dropped.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be reached.
    async fn subscribe(
        &self,
        topic: &str,
        sink: TopicSink,
    ) -> Result<TopicSubscription, StoreError>;
}
