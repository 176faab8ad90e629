//! Shared kernel of Agora's domain crates.
//!
//! Everything here is free of infrastructure: identifiers, the [`Clock`] port through
//! which every rule reads the time, opaque pagination cursors, domain events, the
//! [`RateLimiter`] port shared by every instance, and the error contract shared by
//! storage ports ([`StoreError`]). Other domain crates build on it; adapters implement
//! its ports.

pub mod clock;
pub mod error;
pub mod events;
pub mod id;
pub mod pagination;
pub mod pubsub;
pub mod rate_limit;
pub mod text;
pub mod timestamp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{FieldError, StoreError};
pub use events::{DomainEvent, EventDecodeError, EventPublisher, NullEventPublisher, TypedEvent};
pub use pagination::{Cursor, Page, PageLimit};
pub use pubsub::{TopicBus, TopicSink, TopicSubscription};
pub use rate_limit::{Rate, RateDecision, RateLimiter};
