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

/// A fact that happened in the domain, in the envelope every store, queue and bus
/// carries: the payload is one of the typed event enums of the domain crates
/// ([`TypedEvent`]), written with [`DomainEvent::of`] and read back with
/// [`DomainEvent::decode`], so the producer and the consumer share one Rust type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Unique id, so consumers can de-duplicate at-least-once deliveries.
    pub id: Uuid,
    /// Dotted name, for example `identity.user_registered`.
    pub name: String,
    /// Version of the payload's shape ([`TypedEvent::VERSION`] of its writer). Envelopes
    /// recorded before versions existed carry none and read as version 1, the shape
    /// they were written in.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Id of the aggregate the event is about.
    pub aggregate_id: Uuid,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// Event-specific data.
    pub payload: serde_json::Value,
}

const fn first_version() -> u32 {
    1
}

/// The events of one domain crate: a serde enum, internally tagged by the event's dotted
/// name (`#[serde(tag = "event")]`, each variant renamed to its name), whose variants
/// carry the event's data.
///
/// Changing a variant's fields in a way old readers cannot read means raising
/// [`TypedEvent::VERSION`]; a reader refuses envelopes of any other version with an
/// [`EventDecodeError`] (the outbox then buries the job with that reason) instead of
/// guessing.
pub trait TypedEvent: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// Version of the payload shapes this type writes and reads.
    const VERSION: u32;
    /// The dotted names of every variant, for routing and documentation.
    const NAMES: &'static [&'static str];

    /// This event's dotted name (`debates.argument_posted`).
    fn name(&self) -> &'static str;

    /// Id of the aggregate the event is about (the session, the user, …).
    fn aggregate_id(&self) -> Uuid;
}

/// Why an envelope could not be read as a typed event. Says enough to act on it in the
/// dead-job list: which event, which version, which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    /// No variant of the type has this name.
    #[error("unknown event {name:?} (this server reads: {known})")]
    Unknown {
        /// The envelope's name.
        name: String,
        /// The names the reader knows, joined.
        known: String,
    },
    /// The envelope's version is not the one this server reads.
    #[error("event {name:?} is version {found}; this server reads version {reads}")]
    Version {
        /// The envelope's name.
        name: String,
        /// The envelope's version.
        found: u32,
        /// The version the reader understands.
        reads: u32,
    },
    /// The payload does not have the fields the name and version promise.
    #[error("event {name:?} (version {version}) has a malformed payload: {reason}")]
    Malformed {
        /// The envelope's name.
        name: String,
        /// The envelope's version.
        version: u32,
        /// What serde said.
        reason: String,
    },
}

impl DomainEvent {
    /// The envelope of a typed event that happened at `occurred_at`, with a fresh id.
    pub fn of<E: TypedEvent>(event: &E, occurred_at: DateTime<Utc>) -> Self {
        // Typed events are plain data (strings, ids, times, numbers): serialising
        // cannot fail; a Null payload would be refused loudly by `decode` anyway.
        let payload = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
        Self {
            id: Uuid::new_v4(),
            name: event.name().to_owned(),
            version: E::VERSION,
            aggregate_id: event.aggregate_id(),
            occurred_at,
            payload,
        }
    }

    /// Whether the envelope names one of `E`'s events (it may still fail to decode).
    pub fn is<E: TypedEvent>(&self) -> bool {
        E::NAMES.contains(&self.name.as_str())
    }

    /// The typed event in the envelope.
    ///
    /// # Errors
    /// [`EventDecodeError`]: a name `E` does not have, another version, or a payload
    /// without the fields the name promises.
    pub fn decode<E: TypedEvent>(&self) -> Result<E, EventDecodeError> {
        if !self.is::<E>() {
            return Err(EventDecodeError::Unknown {
                name: self.name.clone(),
                known: E::NAMES.join(", "),
            });
        }
        if self.version != E::VERSION {
            return Err(EventDecodeError::Version {
                name: self.name.clone(),
                found: self.version,
                reads: E::VERSION,
            });
        }
        let malformed = |reason: String| EventDecodeError::Malformed {
            name: self.name.clone(),
            version: self.version,
            reason,
        };
        let mut payload = self.payload.clone();
        let serde_json::Value::Object(fields) = &mut payload else {
            return Err(malformed("the payload is not an object".into()));
        };
        // Payloads recorded before they were typed carry no tag; the envelope's name is it.
        fields
            .entry("event")
            .or_insert_with(|| serde_json::Value::String(self.name.clone()));
        if fields.get("event").and_then(serde_json::Value::as_str) != Some(self.name.as_str()) {
            return Err(malformed(
                "the payload's tag is not the envelope's name".into(),
            ));
        }
        serde_json::from_value(payload).map_err(|e| malformed(e.to_string()))
    }

    /// A new event with a fresh id, from a name and a payload built by hand. Only for
    /// tests and tools that forge envelopes; services use [`DomainEvent::of`].
    pub fn new(
        name: impl Into<String>,
        aggregate_id: Uuid,
        occurred_at: DateTime<Utc>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: name.into(),
            version: first_version(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "event")]
    enum Sample {
        #[serde(rename = "sample.happened")]
        Happened { id: Uuid, count: u32 },
    }

    impl TypedEvent for Sample {
        const VERSION: u32 = 1;
        const NAMES: &'static [&'static str] = &["sample.happened"];
        fn name(&self) -> &'static str {
            "sample.happened"
        }
        fn aggregate_id(&self) -> Uuid {
            match self {
                Self::Happened { id, .. } => *id,
            }
        }
    }

    fn happened() -> Sample {
        Sample::Happened {
            id: Uuid::from_u128(7),
            count: 3,
        }
    }

    #[test]
    fn a_typed_event_round_trips_through_its_envelope() {
        let envelope = DomainEvent::of(&happened(), DateTime::UNIX_EPOCH);
        assert_eq!(envelope.name, "sample.happened");
        assert_eq!(envelope.aggregate_id, Uuid::from_u128(7));
        let text = serde_json::to_string(&envelope).unwrap();
        let back: DomainEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back.decode::<Sample>(), Ok(happened()));
    }

    #[test]
    fn payloads_written_before_tags_and_versions_still_read() {
        let old = serde_json::json!({
            "id": Uuid::new_v4(), "name": "sample.happened", "aggregate_id": Uuid::from_u128(7),
            "occurred_at": DateTime::UNIX_EPOCH, "payload": {"id": Uuid::from_u128(7), "count": 3}
        });
        let envelope: DomainEvent = serde_json::from_value(old).unwrap();
        assert_eq!(envelope.version, 1);
        assert_eq!(envelope.decode::<Sample>(), Ok(happened()));
    }

    #[test]
    fn unknown_names_other_versions_and_bad_fields_say_why() {
        let mut envelope = DomainEvent::of(&happened(), DateTime::UNIX_EPOCH);
        envelope.version = 2;
        let why = envelope.decode::<Sample>().unwrap_err().to_string();
        assert!(
            why.contains("version 2") && why.contains("reads version 1"),
            "{why}"
        );

        let mut envelope = DomainEvent::of(&happened(), DateTime::UNIX_EPOCH);
        envelope.name = "sample.vanished".into();
        let why = envelope.decode::<Sample>().unwrap_err().to_string();
        assert!(
            why.contains("unknown event") && why.contains("sample.happened"),
            "{why}"
        );

        let mut envelope = DomainEvent::of(&happened(), DateTime::UNIX_EPOCH);
        envelope.payload["count"] = serde_json::json!("three");
        let why = envelope.decode::<Sample>().unwrap_err().to_string();
        assert!(
            why.contains("malformed") && why.contains("count") || why.contains("string"),
            "{why}"
        );

        let mut envelope = DomainEvent::of(&happened(), DateTime::UNIX_EPOCH);
        envelope.payload = serde_json::Value::Null;
        assert!(matches!(
            envelope.decode::<Sample>(),
            Err(EventDecodeError::Malformed { .. })
        ));
    }
}
