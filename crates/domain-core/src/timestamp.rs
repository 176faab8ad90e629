//! The range of instants accepted from clients.
//!
//! A client may send any year chrono can parse (−262143 to +262142), but PostgreSQL's
//! `timestamptz` starts at 4713 BC and RFC 3339 — the format every answer uses — has
//! four-digit years. Bounding every client instant to years 1900–9999 keeps the two
//! storage modes identical and every stored value printable; fields that need a narrower
//! range check it on top.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::FieldError;

/// Earliest year accepted from a client.
pub const MIN_YEAR: i32 = 1900;
/// Latest year accepted from a client.
pub const MAX_YEAR: i32 = 9999;

/// Whether a year is inside [`MIN_YEAR`]..=[`MAX_YEAR`].
pub fn year_in_range(year: i32) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&year)
}

fn out_of_range(field: &str) -> FieldError {
    FieldError::new(
        field,
        format!("must be between the years {MIN_YEAR} and {MAX_YEAR}"),
    )
}

/// Checks an instant sent by a client.
///
/// # Errors
/// A [`FieldError`] on `field` when its year is outside 1900–9999.
pub fn bounded(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    if year_in_range(at.year()) {
        Ok(at)
    } else {
        Err(out_of_range(field))
    }
}

/// [`bounded`] for an optional instant.
///
/// # Errors
/// As [`bounded`].
pub fn bounded_opt(
    field: &str,
    at: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    at.map(|t| bounded(field, t)).transpose()
}

/// Checks a calendar day sent by a client.
///
/// # Errors
/// A [`FieldError`] on `field` when its year is outside 1900–9999.
pub fn bounded_date(field: &str, day: NaiveDate) -> Result<NaiveDate, FieldError> {
    if year_in_range(day.year()) {
        Ok(day)
    } else {
        Err(out_of_range(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn years_outside_1900_to_9999_are_refused_naming_the_field() {
        for text in [
            "-5000-01-01T00:00:00Z",
            "+200000-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "+10000-01-01T00:00:00Z",
        ] {
            let e = bounded("since", at(text)).unwrap_err();
            assert_eq!(e.field, "since", "{text}");
        }
        for text in [
            "1900-01-01T00:00:00Z",
            "2026-12-07T16:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            bounded("since", at(text)).unwrap();
        }
        assert!(bounded_opt("until", None).unwrap().is_none());
    }

    #[test]
    fn dates_are_bounded_alike() {
        let d = NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap();
        assert_eq!(bounded_date("from", d).unwrap_err().field, "from");
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(bounded_date("from", d).unwrap(), d);
    }
}
