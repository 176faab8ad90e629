//! Schemas of wire formats that the Rust types alone do not describe: text that must be one
//! of a few words, scopes, permissions, names. The DTOs point at these with
//! `#[schemars(schema_with = "…")]`, so the OpenAPI document states exactly what the
//! handlers accept and answer — a request valid by the document is never refused for its
//! shape, and clients and fuzzers can trust it (issue #11).
//!
//! Each `…_or_null` variant is for an `Option` field that also accepts (or answers) `null`.

use schemars::r#gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, StringValidation};

/// A canonical (hyphenated) UUID, as the scope pattern embeds it.
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// An RBAC scope: `global`, or `institution:`, `campus:` or `department:` and a UUID.
pub fn scope_pattern() -> String {
    format!("^(global|(institution|campus|department):{UUID})$")
}

/// A permission of the catalogue, `resource.action`.
pub fn permission_pattern() -> String {
    use domain_rbac::permission::{Action, ResourceType};
    let resources: Vec<&str> = ResourceType::ALL.iter().map(|r| r.as_str()).collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    format!("^({})\\.({})$", resources.join("|"), actions.join("|"))
}

/// A role name: 2–48 characters of `a-z`, `0-9` and `_`, starting with a letter.
pub const ROLE_NAME_PATTERN: &str = "^[a-z][a-z0-9_]{1,47}$";

fn string(pattern: Option<String>, min: Option<u32>, max: Option<u32>) -> SchemaObject {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        string: Some(Box::new(StringValidation {
            pattern,
            min_length: min,
            max_length: max,
        })),
        ..Default::default()
    }
}

fn nullable(mut s: SchemaObject) -> Schema {
    s.extensions
        .insert("nullable".to_owned(), serde_json::Value::Bool(true));
    s.into()
}

/// Control characters (Unicode `Cc`, what `char::is_control` refuses) as a regex class body.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// The same without `\n` and `\r`, which multi-line text keeps.
const CONTROL_BUT_BREAKS: &str = r"\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f";

/// One line of text of `min`..=`max` characters: no control character, and (when `min`
/// is at least 1) something besides white space, since the server trims it.
fn line(min: u32, max: u32) -> SchemaObject {
    let pattern = if min == 0 {
        format!("^[^{CONTROL}]*$")
    } else {
        format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")
    };
    string(Some(pattern), Some(min), Some(max))
}

/// Text that may span lines, like [`line`] but keeping line breaks.
fn multiline(min: u32, max: u32) -> SchemaObject {
    let c = CONTROL_BUT_BREAKS;
    let pattern = if min == 0 {
        format!("^[^{c}]*$")
    } else {
        format!("^[^{c}]*[^\\s{c}][^{c}]*$")
    };
    string(Some(pattern), Some(min), Some(max))
}

/// A title or a unit name: one line, 1–200 characters.
pub fn title(_: &mut SchemaGenerator) -> Schema {
    line(1, 200).into()
}

/// A title, or `null` (no change).
pub fn title_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(line(1, 200))
}

/// A topic description: up to 10 000 characters, line breaks allowed.
pub fn description(_: &mut SchemaGenerator) -> Schema {
    multiline(0, 10_000).into()
}

/// An argument: 1–5 000 characters, line breaks allowed.
pub fn argument_body(_: &mut SchemaGenerator) -> Schema {
    multiline(1, 5_000).into()
}

/// Free one-line text of any length (a filter), or `null`: no control character.
pub fn plain_text_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(string(Some(format!("^[^{CONTROL}]*$")), None, None))
}

/// A moderator's reason that must be given: one line, 1–500 characters.
pub fn reason(_: &mut SchemaGenerator) -> Schema {
    line(1, 500).into()
}

/// An optional reason: one line, up to 500 characters, or `null`.
pub fn reason_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(line(0, 500))
}

/// Years a client may send in an instant or a day: 1900–9999 (issue #11: PostgreSQL and
/// the clients' date libraries agree on these, and an instant outside them is refused).
const YEAR: &str = "(19[0-9]{2}|[2-9][0-9]{3})";

/// An RFC 3339 instant (`format: date-time`) in the years the server accepts.
pub fn date_time(_: &mut SchemaGenerator) -> Schema {
    let mut s = string(Some(format!("^{YEAR}-")), None, None);
    s.format = Some("date-time".into());
    s.into()
}

/// An instant, or `null`.
pub fn date_time_or_null(g: &mut SchemaGenerator) -> Schema {
    nullable(date_time(g).into_object())
}

/// A day, `YYYY-MM-DD` (`format: date`), in the years the server accepts.
pub fn date_or_null(_: &mut SchemaGenerator) -> Schema {
    let mut s = string(Some(format!("^{YEAR}-")), None, None);
    s.format = Some("date".into());
    nullable(s)
}

/// A string that is one of `values`.
pub fn one_of(values: &[&str]) -> SchemaObject {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        enum_values: Some(values.iter().map(|v| (*v).into()).collect()),
        ..Default::default()
    }
}

/// An RBAC scope.
pub fn scope(_: &mut SchemaGenerator) -> Schema {
    string(Some(scope_pattern()), None, None).into()
}

/// An RBAC scope, or `null`.
pub fn scope_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(string(Some(scope_pattern()), None, None))
}

/// A permission.
pub fn permission(_: &mut SchemaGenerator) -> Schema {
    string(Some(permission_pattern()), None, None).into()
}

/// A list of permissions.
pub fn permissions(g: &mut SchemaGenerator) -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::Array.into()),
        array: Some(Box::new(schemars::schema::ArrayValidation {
            items: Some(permission(g).into()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

/// A role name.
pub fn role_name(_: &mut SchemaGenerator) -> Schema {
    string(Some(ROLE_NAME_PATTERN.to_owned()), None, None).into()
}

/// A list of role names.
pub fn role_names(g: &mut SchemaGenerator) -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::Array.into()),
        array: Some(Box::new(schemars::schema::ArrayValidation {
            items: Some(role_name(g).into()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

/// A seat: `pro`, `con` or `audience`.
pub fn side(_: &mut SchemaGenerator) -> Schema {
    one_of(&["pro", "con", "audience"]).into()
}

/// A debating side: `pro` or `con`.
pub fn debating_side(_: &mut SchemaGenerator) -> Schema {
    one_of(&["pro", "con"]).into()
}

/// A debating side, or `null`.
pub fn debating_side_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(one_of(&["pro", "con"]))
}

/// A ballot: `winner` or `best_argument`.
pub fn ballot(_: &mut SchemaGenerator) -> Schema {
    one_of(&["winner", "best_argument"]).into()
}

/// A session status.
pub fn session_status(_: &mut SchemaGenerator) -> Schema {
    one_of(&["scheduled", "live", "closed"]).into()
}

/// A moderation action kind.
pub fn moderation_kind(_: &mut SchemaGenerator) -> Schema {
    one_of(&["mute", "unmute", "remove", "warn", "remove_message"]).into()
}

/// A moderation action kind, or `null`.
pub fn moderation_kind_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(one_of(&[
        "mute",
        "unmute",
        "remove",
        "warn",
        "remove_message",
    ]))
}

/// A job state.
pub fn job_status(_: &mut SchemaGenerator) -> Schema {
    one_of(&["queued", "running", "done", "dead"]).into()
}

/// A job state, or `null`.
pub fn job_status_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(one_of(&["queued", "running", "done", "dead"]))
}

/// A session status, or `null`.
pub fn session_status_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(one_of(&["scheduled", "live", "closed"]))
}

/// A transcript format, or `null`.
pub fn transcript_format_or_null(_: &mut SchemaGenerator) -> Schema {
    nullable(one_of(&["json", "markdown", "md", "text", "txt"]))
}

/// A notification kind.
pub fn notification_kind(_: &mut SchemaGenerator) -> Schema {
    let kinds: Vec<&str> = domain_notifications::NotificationKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    one_of(&kinds).into()
}

/// A notification channel.
pub fn channel(_: &mut SchemaGenerator) -> Schema {
    let channels: Vec<&str> = domain_notifications::Channel::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    one_of(&channels).into()
}

/// An override's effect: `allow` or `deny`.
pub fn effect(_: &mut SchemaGenerator) -> Schema {
    one_of(&["allow", "deny"]).into()
}

/// A unit kind.
pub fn unit_kind(_: &mut SchemaGenerator) -> Schema {
    one_of(&["institution", "campus", "department"]).into()
}

/// A transcript format.
pub fn transcript_format(_: &mut SchemaGenerator) -> Schema {
    one_of(&["json", "markdown", "md", "text", "txt"]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex_lite::Regex::new(pattern).unwrap().is_match(text)
    }

    /// The patterns accept what the parsers accept, and refuse what they refuse.
    #[test]
    fn patterns_agree_with_parsers() {
        let id = uuid::Uuid::new_v4();
        for ok in [
            "global".to_owned(),
            format!("institution:{id}"),
            format!("campus:{id}"),
            format!("department:{id}"),
        ] {
            assert!(matches(&scope_pattern(), &ok), "{ok}");
            assert!(ok.parse::<domain_rbac::Scope>().is_ok(), "{ok}");
        }
        for bad in ["", "globalx", "institution:", "school:1", "campus:xyz"] {
            assert!(!matches(&scope_pattern(), bad), "{bad}");
        }
        for p in domain_rbac::Permission::all() {
            assert!(matches(&permission_pattern(), &p.to_string()), "{p}");
        }
        assert!(!matches(&permission_pattern(), "debate.read"));
        assert!(!matches(&permission_pattern(), "role.readx"));
    }

    /// Every word of an enum schema is one the domain parses.
    #[test]
    fn enums_agree_with_parsers() {
        use domain_debates::moderation::ActionKind;
        use domain_debates::transcript::TranscriptFormat;
        use domain_debates::voting::Ballot;
        use domain_debates::{SessionStatus, Side};
        let mut g = SchemaGenerator::default();
        let words = |s: Schema| -> Vec<String> {
            s.into_object()
                .enum_values
                .unwrap()
                .into_iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        for w in words(side(&mut g)) {
            assert!(Side::parse(&w).is_some(), "{w}");
        }
        for w in words(ballot(&mut g)) {
            assert!(Ballot::parse(&w).is_some(), "{w}");
        }
        for w in words(session_status(&mut g)) {
            assert!(SessionStatus::parse(&w).is_some(), "{w}");
        }
        for w in words(moderation_kind(&mut g)) {
            assert!(ActionKind::parse(&w).is_some(), "{w}");
        }
        for w in words(transcript_format(&mut g)) {
            assert!(TranscriptFormat::parse(&w).is_some(), "{w}");
        }
        for w in words(job_status(&mut g)) {
            assert!(domain_jobs::JobStatus::parse(&w).is_some(), "{w}");
        }
    }
}
