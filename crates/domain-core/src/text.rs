//! What every text field accepted from a client may contain.
//!
//! One rule for the whole platform, applied before anything is stored: a single-line
//! field (a name, a title, a filter, a username) refuses every Unicode control character
//! (general category `Cc`: U+0000–U+001F and U+007F–U+009F); a multi-line field (an
//! argument's body, a description, a reason) allows only line feed, carriage return and
//! tab among them. NUL in particular never reaches storage: PostgreSQL refuses it in
//! `text` columns while process memory would keep it, so accepting it made the two
//! storage modes answer the same input differently.

use crate::FieldError;

/// How many lines a text field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names, titles, filters, identifiers: no control character at all.
    Single,
    /// Bodies, descriptions, reasons: line feed, carriage return and tab only.
    Multi,
}

/// The control characters a multi-line field may hold.
pub const MULTI_LINE_CONTROLS: [char; 3] = ['\n', '\r', '\t'];

/// The first character of `text` that a field of this kind refuses, if any.
pub fn forbidden_char(text: &str, lines: Lines) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !(lines == Lines::Multi && MULTI_LINE_CONTROLS.contains(c)))
}

/// The reason shown to the client for a refused character: its code point, never the
/// character itself (which may be invisible or break a log line).
pub fn refusal_message(c: char, lines: Lines) -> String {
    match lines {
        Lines::Single => format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(c)
        ),
        Lines::Multi => format!(
            "must not contain control characters other than line breaks and tabs (found U+{:04X})",
            u32::from(c)
        ),
    }
}

/// Checks a field of the given kind.
///
/// # Errors
/// A [`FieldError`] on `field` naming the first refused character.
pub fn check(field: &str, text: &str, lines: Lines) -> Result<(), FieldError> {
    match forbidden_char(text, lines) {
        None => Ok(()),
        Some(c) => Err(FieldError::new(field, refusal_message(c, lines))),
    }
}

/// Checks a single-line field: no control character at all.
///
/// # Errors
/// A [`FieldError`] on `field` naming the first control character.
pub fn single_line(field: &str, text: &str) -> Result<(), FieldError> {
    check(field, text, Lines::Single)
}

/// Checks a multi-line field: control characters other than `\n`, `\r`, `\t` refused.
///
/// # Errors
/// A [`FieldError`] on `field` naming the first refused character.
pub fn multi_line(field: &str, text: &str) -> Result<(), FieldError> {
    check(field, text, Lines::Multi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_fields_refuse_every_control_character() {
        for bad in [
            "a\0b",
            "tab\there",
            "new\nline",
            "\r",
            "del\u{7f}",
            "c1\u{85}",
            "\u{9f}",
        ] {
            let e = single_line("title", bad).unwrap_err();
            assert_eq!(e.field, "title");
            assert!(e.message.contains("U+"), "{}", e.message);
        }
        single_line("title", "Ça va — 🎓 «débat» ①").unwrap();
    }

    #[test]
    fn multi_line_fields_allow_line_breaks_and_tabs_only() {
        multi_line("body", "first line\r\n\tsecond line\n").unwrap();
        for bad in ["a\0b", "bell\u{7}", "esc\u{1b}[31m", "c1\u{80}"] {
            assert_eq!(multi_line("body", bad).unwrap_err().field, "body");
        }
    }

    #[test]
    fn the_message_names_the_code_point_not_the_character() {
        let e = single_line("q", "x\0").unwrap_err();
        assert!(e.message.ends_with("(found U+0000)"), "{}", e.message);
        assert!(!e.message.contains('\0'));
    }
}
