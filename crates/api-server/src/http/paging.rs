//! Cursor helpers shared by list endpoints: clients page with an opaque `after` cursor
//! (never an offset), and get `next` while a full page came back.

use domain_core::{Cursor, PageLimit};
use uuid::Uuid;

use super::problem::ApiError;

/// Decodes an `after` cursor that carries a UUID key.
///
/// # Errors
/// [`ApiError::BadRequest`] for a cursor this server did not issue.
pub fn uuid_after(after: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    after
        .map(|c| {
            Cursor::decode(c)
                .and_then(|k| Uuid::parse_str(&k).ok())
                .ok_or_else(|| ApiError::BadRequest("invalid cursor in 'after'".into()))
        })
        .transpose()
}

/// The cursor of the next page: the last key, when the page was full.
pub fn next_cursor<K: std::fmt::Display>(
    last_key: Option<K>,
    returned: usize,
    limit: PageLimit,
) -> Option<String> {
    if returned as u64 == u64::from(limit.get()) {
        last_key.map(|k| Cursor::encode(&k.to_string()).as_str().to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stop_on_short_pages() {
        let id = Uuid::new_v4();
        let limit = PageLimit::new(Some(2));
        let next = next_cursor(Some(id), 2, limit).unwrap();
        assert_eq!(uuid_after(Some(&next)).unwrap(), Some(id));
        assert_eq!(next_cursor(Some(id), 1, limit), None);
        assert!(uuid_after(Some("garbage!")).is_err());
    }
}
