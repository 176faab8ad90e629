//! Cursor pagination: clients get an opaque token for "the next page", never an offset,
//! so listing stays cheap on large tables and stable while rows are inserted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// An opaque position in an ordered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Encodes a position key (for example `"2026-01-01T00:00:00Z|<uuid>"`).
    pub fn encode(key: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(key.as_bytes()))
    }

    /// Decodes a cursor received from a client.
    ///
    /// # Errors
    /// Returns `None` when the text is not a cursor this service issued.
    pub fn decode(text: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// The text handed to clients.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Page size requested by a client, clamped to `1..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// Largest page a client may ask for.
    pub const MAX: u32 = 100;
    /// Page size when the client does not say.
    pub const DEFAULT: u32 = 20;

    /// Clamps a requested size into range.
    pub fn new(requested: Option<u32>) -> Self {
        Self(requested.unwrap_or(Self::DEFAULT).clamp(1, Self::MAX))
    }

    /// The clamped value.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Cursor for the following page, if there is one.
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor::encode("42|abc");
        assert_eq!(Cursor::decode(c.as_str()).as_deref(), Some("42|abc"));
        assert_eq!(Cursor::decode("%%%"), None);
    }

    #[test]
    fn limit_is_clamped() {
        assert_eq!(PageLimit::new(None).get(), 20);
        assert_eq!(PageLimit::new(Some(0)).get(), 1);
        assert_eq!(PageLimit::new(Some(10_000)).get(), 100);
    }
}
