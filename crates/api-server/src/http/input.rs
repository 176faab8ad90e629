//! The input screen: one middleware that every request passes before any handler, so no
//! endpoint can forget the platform's text and time rules (`domain_core::text`,
//! `domain_core::timestamp`).
//!
//! It refuses, with 422 problem+json naming the field:
//! - a control character in a path segment, a query parameter (name or value), or a
//!   string or key of a JSON body — every field is single-line except the JSON keys in
//!   [`MULTI_LINE_FIELDS`], which may hold `\n`, `\r` and `\t`;
//! - an instant (RFC 3339, as `DateTime<Utc>` parses it) or a `YYYY-MM-DD` day outside
//!   the years 1900–9999, in a query value or a JSON string;
//! - a query parameter the route does not declare ([`RouteQueries`]): the OpenAPI
//!   document lists each route's parameters from the same declaration, so a handler can
//!   never read a parameter the document does not list, and a misspelt filter (`?scpoe=`)
//!   is an error rather than a silently unfiltered list.
//!
//! Domain types apply the same rules in their parse functions (and so to real-time frames,
//! which never pass here); this screen is the safety net that makes a field a handler
//! does not check — a filter, a role name, a path segment — as safe as one it does. A body
//! that is not JSON at all is left to the `Json` extractor, which answers 400.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{Error, HttpMessage};
use chrono::{DateTime, NaiveDate, Utc};
use domain_core::FieldError;
use domain_core::text::{Lines, forbidden_char, refusal_message};
use domain_core::timestamp;
use futures_util::StreamExt;
use serde_json::Value;

use super::fallback::JSON_LIMIT;
use super::problem::ApiError;

/// JSON body keys whose strings are multi-line text: argument bodies, descriptions,
/// moderation reasons. Every other string is single-line; a new multi-line field must be
/// added here (until then its line breaks are refused — the safe direction).
pub const MULTI_LINE_FIELDS: [&str; 3] = ["body", "description", "reason"];

/// The middleware function; install with `actix_web::middleware::from_fn`. A refusal is
/// an ordinary response, so the outer middleware (request id, metrics, access log) treat
/// it like any other answer.
pub async fn screen<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let mut errors = Vec::new();
    check_path(req.path(), &mut errors);
    let pairs = query_pairs(req.query_string());
    check_query(&pairs, &mut errors);
    if errors.is_empty() {
        check_declared(&req, &pairs, &mut errors);
    }
    if !errors.is_empty() {
        return Ok(refuse_request(req, ApiError::Validation(errors)));
    }
    if is_json(&req) {
        let bytes = match read_body(req.take_payload()).await {
            Ok(bytes) => bytes,
            Err(e) => return Ok(refuse_request(req, e)),
        };
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            check_json(&value, "", Lines::Single, &mut errors);
        }
        if !errors.is_empty() {
            return Ok(refuse_request(req, ApiError::Validation(errors)));
        }
        req.set_payload(Payload::from(bytes));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn refuse_request<B>(req: ServiceRequest, e: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.error_response(e).map_into_right_body()
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

/// The body, up to the JSON extractor's limit (the same 413 answer beyond it).
async fn read_body(mut payload: Payload) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > JSON_LIMIT {
            return Err(ApiError::PayloadTooLarge(format!(
                "request body larger than {JSON_LIMIT} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn refuse(errors: &mut Vec<FieldError>, field: &str, text: &str, lines: Lines) -> bool {
    match forbidden_char(text, lines) {
        Some(c) => {
            errors.push(FieldError::new(field, refusal_message(c, lines)));
            true
        }
        None => false,
    }
}

/// Path segments, percent-decoded as the `Path` extractor will see them.
fn check_path(path: &str, errors: &mut Vec<FieldError>) {
    let decoded = percent_decode(path);
    refuse(errors, "path", &decoded, Lines::Single);
}

/// The query parameters of every route, by method and router path, as declared in the
/// route table.
#[derive(Clone)]
pub struct RouteQueries(std::sync::Arc<std::collections::HashMap<(Method, String), Vec<String>>>);

impl RouteQueries {
    /// The table of `(method, router path) → parameter names` (built by
    /// [`super::routes::queries`]).
    pub fn new(map: std::collections::HashMap<(Method, String), Vec<String>>) -> Self {
        Self(std::sync::Arc::new(map))
    }
}

/// Refuses parameters the matched route does not declare (routes outside the table —
/// unknown paths — are left to the 404).
fn check_declared(req: &ServiceRequest, pairs: &[(String, String)], errors: &mut Vec<FieldError>) {
    if pairs.is_empty() {
        return;
    }
    let Some(table) = req.app_data::<web::Data<RouteQueries>>() else {
        return;
    };
    let Some(declared) = req
        .match_pattern()
        .and_then(|pattern| table.0.get(&(req.method().clone(), pattern)))
    else {
        return;
    };
    for (name, _) in pairs {
        if declared.contains(name) || errors.iter().any(|e| &e.field == name) {
            continue;
        }
        let message = if declared.is_empty() {
            "unknown query parameter: this endpoint reads none".to_owned()
        } else {
            format!(
                "unknown query parameter: this endpoint reads {}",
                declared.join(", ")
            )
        };
        errors.push(FieldError::new(name, message));
    }
}

/// The query string's name/value pairs, decoded once for both checks; an unparseable one
/// is left to the `Query` extractor (400).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

fn check_query(pairs: &[(String, String)], errors: &mut Vec<FieldError>) {
    for (name, value) in pairs {
        if refuse(errors, "query", name, Lines::Single) {
            continue;
        }
        if !refuse(errors, name, value, Lines::Single) {
            check_time(name, value, true, errors);
        }
    }
}

fn check_json(value: &Value, field: &str, lines: Lines, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(s) => {
            let name = if field.is_empty() { "body" } else { field };
            if !refuse(errors, name, s, lines) {
                check_time(name, s, false, errors);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_json(item, &format!("{field}[{i}]"), lines, errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let path = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                if refuse(errors, field_or_body(field), key, Lines::Single) {
                    continue;
                }
                let lines = if MULTI_LINE_FIELDS.contains(&key.as_str()) {
                    Lines::Multi
                } else {
                    Lines::Single
                };
                check_json(item, &path, lines, errors);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn field_or_body(field: &str) -> &str {
    if field.is_empty() { "body" } else { field }
}

/// A value that is an instant (or, in a query string, a day) must fall in the years
/// 1900–9999, whatever the field: the handler would parse it as such, and PostgreSQL
/// refuses (or cannot print) years outside its range. Days are looked for in query strings
/// only (`from`, `to`), so a JSON title that merely reads like an old date stays a title.
fn check_time(field: &str, text: &str, days: bool, errors: &mut Vec<FieldError>) {
    let bounded = if let Ok(at) = text.parse::<DateTime<Utc>>() {
        timestamp::bounded(field, at).map(drop)
    } else if let Some(day) = days
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
    {
        timestamp::bounded_date(field, day).map(drop)
    } else {
        Ok(())
    };
    if let Err(e) = bounded {
        errors.push(e);
    }
}

/// Percent-decodes a path (invalid escapes are kept as they are; invalid UTF-8 is
/// replaced, which is enough to find control characters).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            // both digits are below 16, so the byte fits
            out.push(u8::try_from(h * 16 + l).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_errors(v: Value) -> Vec<FieldError> {
        let mut e = Vec::new();
        check_json(&v, "", Lines::Single, &mut e);
        e
    }

    #[test]
    fn json_strings_are_single_line_except_bodies_descriptions_and_reasons() {
        assert!(
            json_errors(json!({"body": "a\nb\tc", "description": "x\r\ny", "reason": "z\n"}))
                .is_empty()
        );
        let e = json_errors(json!({"title": "a\nb", "username": "ro\u{0}ot"}));
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "username"]);
        assert_eq!(json_errors(json!({"body": "a\u{0}b"}))[0].field, "body");
    }

    #[test]
    fn nested_fields_are_named_by_their_path() {
        let e = json_errors(json!({"permissions": ["a.b", "c\u{0}"], "x": {"y": "\u{7}"}}));
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["permissions[1]", "x.y"]);
    }

    #[test]
    fn out_of_range_instants_and_days_are_refused() {
        let e = json_errors(json!({
            "scheduled_start": "-5000-01-01T00:00:00Z",
            "expires_at": "+200000-01-01T00:00:00Z",
            "ok": "2026-12-07T10:00:00Z",
            "title": "not a date",
        }));
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["expires_at", "scheduled_start"]);
        let mut e = Vec::new();
        check_query(
            &query_pairs("from=-5000-01-01&to=2026-01-01&since=%2B200000-01-01T00:00:00Z"),
            &mut e,
        );
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "since"]);
    }

    #[test]
    fn query_and_path_refuse_control_characters() {
        let mut e = Vec::new();
        check_query(&query_pairs("target=ab%00c&action=ok&sc%01ope=x"), &mut e);
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["target", "query"]);
        let mut e = Vec::new();
        check_path("/api/rbac/roles/ro%00le/permissions/", &mut e);
        assert_eq!(e[0].field, "path");
        let mut e = Vec::new();
        check_path("/api/debates/topics/%C3%A9t%C3%A9/", &mut e);
        assert!(e.is_empty());
    }
}
