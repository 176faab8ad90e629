//! Domain events: facts a domain service announces after a change commits.
//!
//! Reactions (notifications, emails, cache invalidation) subscribe in the wiring layer;
//! domain crates never call each other directly.
//!
//! Two ways out of a service: events whose reactions must not be lost are handed to the
//! store with the change (a write method taking `events: &[DomainEvent]`), which records
//! them in the same transaction — the transactional outbox, drained by background jobs;
//! events that only inform (a vote cast, a notification stored) go through an
//! [`EventPublisher`] after the change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// A fact that happened in the domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Unique id, so consumers can de-duplicate at-least-once deliveries.
    pub id: Uuid,
    /// Dotted name, for example `identity.user_registered`.
    pub name: String,
    /// Id of the aggregate the event is about.
    pub aggregate_id: Uuid,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// Event-specific data.
    pub payload: serde_json::Value,
}

impl DomainEvent {
    /// A new event with a fresh id.
    pub fn new(
        name: impl Into<String>,
        aggregate_id: Uuid,
        occurred_at: DateTime<Utc>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: name.into(),
            aggregate_id,
            occurred_at,
            payload,
        }
    }
}

/// Port through which services publish events.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Hands the event to whatever reacts to it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the event could not be recorded.
    async fn publish(&self, event: DomainEvent) -> Result<(), StoreError>;
}

/// Publisher that drops every event; for deployments with no subscribers yet.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullEventPublisher;

#[async_trait]
impl EventPublisher for NullEventPublisher {
    async fn publish(&self, _event: DomainEvent) -> Result<(), StoreError> {
        Ok(())
    }
}
