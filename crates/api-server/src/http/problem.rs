//! RFC 9457 problem details: the body of every 4xx/5xx answer, and [`ApiError`] with its
//! table of status codes, problem types and titles. Domain errors are mapped to it in
//! [`super::error_table`].

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain_core::FieldError;
use schemars::JsonSchema;
use serde::Serialize;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document (RFC 9457).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(with = "String")]
    pub detail: Option<String>,
    /// Invalid fields, for validation problems (absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<ProblemField>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProblemField {
    /// The field's name in the request body.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

impl Problem {
    /// A problem with a status, a type slug (under `/problems/`) and a detail.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<Option<String>>) -> Self {
        Self {
            kind: if slug.is_empty() {
                "about:blank".into()
            } else {
                format!("/problems/{slug}")
            },
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// The HTTP response carrying this problem.
    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type(PROBLEM_JSON)
            .json(self)
    }
}

/// Everything a handler can fail with. Domain errors convert into it; its
/// [`ResponseError`] implementation is the status-code table.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (syntax, types, missing body).
    #[error("{0}")]
    BadRequest(String),
    /// Semantically invalid fields.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No or bad credentials/token.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A moderator muted the caller in this debate session: 403 with its own problem
    /// type (`/problems/muted`, title "Muted") so clients can tell it from a missing
    /// right; the detail says until when.
    #[error("{0}")]
    Muted(String),
    /// The resource does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with existing state (duplicate username, …).
    #[error("{0}")]
    Conflict(String),
    /// The change would break a protected built-in role (`super_admin` losing a
    /// permission, `guest` gaining a write…): 409 with its own problem type
    /// (`/problems/protected-role`, title "Protected built-in role"); the detail says
    /// which rule and permission.
    #[error("{0}")]
    ProtectedRole(String),
    /// Body too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Wrong `Content-Type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts; retry after the given seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// A backing service is unreachable.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug or an unexpected failure. The cause, with its whole `source()` chain, goes
    /// to the log; the client sees an opaque problem.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One row of the error table: what a client sees for an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    /// HTTP status.
    pub status: StatusCode,
    /// The problem type's slug, under `/problems/`.
    pub slug: &'static str,
    /// The problem type's title.
    pub title: &'static str,
}

const fn row(status: StatusCode, slug: &'static str, title: &'static str) -> ProblemType {
    ProblemType {
        status,
        slug,
        title,
    }
}

impl ApiError {
    /// An internal error caused by `cause` (an error, or a message for a broken
    /// invariant).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    /// The error table: status, problem type and title of each kind of error.
    pub fn problem_type(&self) -> ProblemType {
        use StatusCode as S;
        match self {
            Self::BadRequest(_) => row(S::BAD_REQUEST, "bad-request", "Bad Request"),
            Self::Validation(_) => row(
                S::UNPROCESSABLE_ENTITY,
                "validation",
                "Unprocessable Entity",
            ),
            Self::Unauthorized(_) => row(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Forbidden(_) => row(S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::Muted(_) => row(S::FORBIDDEN, "muted", "Muted"),
            Self::NotFound(_) => row(S::NOT_FOUND, "not-found", "Not Found"),
            Self::Conflict(_) => row(S::CONFLICT, "conflict", "Conflict"),
            Self::ProtectedRole(_) => row(S::CONFLICT, "protected-role", "Protected built-in role"),
            Self::PayloadTooLarge(_) => row(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload Too Large",
            ),
            Self::UnsupportedMediaType(_) => row(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported Media Type",
            ),
            Self::TooManyRequests { .. } => {
                row(S::TOO_MANY_REQUESTS, "rate-limited", "Too Many Requests")
            }
            Self::Unavailable(_) => {
                row(S::SERVICE_UNAVAILABLE, "unavailable", "Service Unavailable")
            }
            Self::Internal(_) => row(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
            ),
        }
    }

    /// This error and its causes, `outer: inner: …`, for the log.
    pub fn log_chain(&self) -> String {
        let mut text = match self {
            Self::Unavailable(cause) => cause.clone(),
            other => other.to_string(),
        };
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let kind = self.problem_type();
        let detail = match self {
            Self::Validation(_) => Some("one or more fields are invalid".to_owned()),
            Self::TooManyRequests { retry_after_secs } => {
                Some(format!("too many attempts; retry in {retry_after_secs} s"))
            }
            Self::Unavailable(_) => Some("a backing service is unavailable; retry later".into()),
            Self::Internal(_) => Some("an unexpected error occurred".into()),
            other => Some(other.to_string()),
        };
        let mut p = Problem::new(kind.status, kind.slug, detail);
        kind.title.clone_into(&mut p.title);
        if let Self::Validation(fields) = self {
            p.errors = fields.iter().cloned().map(ProblemField::from).collect();
        }
        p
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem_type().status
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(_) => tracing::error!(cause = %self.log_chain(), "request failed"),
            Self::Unavailable(_) => {
                tracing::warn!(cause = %self.log_chain(), "backing service unavailable")
            }
            _ => {}
        }
        let mut res = self.problem().response();
        let headers = res.headers_mut();
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"agora\""),
                );
            }
            _ => {}
        }
        res
    }
}

/// Parses a scope sent by a client; a bad one is a validation problem on `field`.
///
/// # Errors
/// [`ApiError::Validation`].
pub fn client_scope(field: &str, text: &str) -> Result<domain_rbac::Scope, ApiError> {
    text.parse().map_err(|e: domain_rbac::ScopeParseError| {
        ApiError::Validation(vec![FieldError::new(field, e.to_string())])
    })
}

/// Parses a `resource.action` permission sent by a client.
///
/// # Errors
/// [`ApiError::Validation`].
pub fn client_permission(field: &str, text: &str) -> Result<domain_rbac::Permission, ApiError> {
    text.parse()
        .map_err(|e: domain_rbac::permission::PermissionParseError| {
            ApiError::Validation(vec![FieldError::new(field, e.to_string())])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muted_is_a_forbidden_problem_of_its_own() {
        let err = ApiError::from(domain_debates::DebateError::Muted { until: None });
        assert_eq!(err.status_code().as_u16(), 403);
        let p = err.problem();
        assert_eq!(
            (p.kind.as_str(), p.title.as_str()),
            ("/problems/muted", "Muted")
        );
        assert_eq!(
            p.detail.as_deref(),
            Some("muted until a moderator lifts it")
        );
        let res = err.error_response();
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
    }

    #[test]
    fn internal_detail_is_opaque() {
        let p = ApiError::internal("password=hunter2 in query").problem();
        assert!(!p.detail.unwrap_or_default().contains("hunter2"));
    }
}
