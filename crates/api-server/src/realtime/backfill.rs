//! Stored arguments as room frames: what a room's sequencer reads to fill a gap once per
//! instance, and what a subscription with `since` (or a connection that fell behind)
//! catches up from.

use domain_debates::{DebateService, Message, MessageRange};
use uuid::Uuid;

use super::frames::ServerFrame;
use super::{RoomBackfill, Topic};
use crate::dto::debates::MessageDto;

/// Stored messages read per page when catching up.
pub const CATCH_UP_PAGE: u32 = 100;

/// The `message.created` frame of a stored argument, as every subscriber of its room
/// gets it.
pub fn message_frame(message: Message) -> ServerFrame {
    ServerFrame::MessageCreated {
        topic: Topic::Debate(message.session_id).to_string(),
        message: MessageDto::from(message),
    }
}

/// Stored messages as room frames, for a room's sequencer to fill a gap once per instance.
pub struct StoredMessages(pub DebateService);

#[async_trait::async_trait]
impl RoomBackfill for StoredMessages {
    async fn frames(
        &self,
        session_id: Uuid,
        after: i64,
        before: i64,
    ) -> Result<Vec<String>, String> {
        let mut frames = Vec::new();
        let mut after = after;
        // Bounded: a gap is at most the frames that overtook one another on the bus.
        while after + 1 < before && frames.len() < 1000 {
            let page = self
                .0
                .messages(
                    session_id,
                    // ascending from `after` (with `before` the store pages down from it)
                    MessageRange {
                        after: Some(after),
                        before: None,
                    },
                    CATCH_UP_PAGE,
                )
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            after = last;
            frames.extend(
                page.into_iter()
                    .filter(|m| m.seq < before)
                    .map(|m| message_frame(m).to_text()),
            );
        }
        Ok(frames)
    }
}

/// The newest stored sequence number of a session (0 when it has none).
///
/// # Errors
/// The store's, when it cannot be read.
pub async fn newest_seq(
    debates: &DebateService,
    session_id: Uuid,
) -> Result<i64, domain_debates::DebateError> {
    let newest = debates
        .messages(
            session_id,
            MessageRange {
                after: None,
                before: Some(i64::MAX),
            },
            1,
        )
        .await?;
    Ok(newest.last().map_or(0, |m| m.seq))
}
