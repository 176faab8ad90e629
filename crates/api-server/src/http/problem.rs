//! RFC 9457 problem details: the body of every 4xx/5xx answer, and the one table that
//! maps domain errors to HTTP status codes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain_core::{FieldError, StoreError};
use domain_identity::IdentityError;
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
    /// A bug or an unexpected failure; the cause goes to the log, not to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Validation(_) => "validation",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Muted(_) => "muted",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::ProtectedRole(_) => "protected-role",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::TooManyRequests { .. } => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            Self::Validation(_) => Some("one or more fields are invalid".to_owned()),
            Self::TooManyRequests { retry_after_secs } => {
                Some(format!("too many attempts; retry in {retry_after_secs} s"))
            }
            Self::Unavailable(_) => Some("a backing service is unavailable; retry later".into()),
            Self::Internal(_) => Some("an unexpected error occurred".into()),
            other => Some(other.to_string()),
        };
        let mut p = Problem::new(status, self.slug(), detail);
        if let Self::Validation(fields) = self {
            p.errors = fields.iter().cloned().map(ProblemField::from).collect();
        }
        if let Self::Muted(_) = self {
            "Muted".clone_into(&mut p.title);
        }
        if let Self::ProtectedRole(_) = self {
            "Protected built-in role".clone_into(&mut p.title);
        }
        p
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Muted(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::ProtectedRole(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(cause = %cause, "request failed"),
            Self::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "backing service unavailable")
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Duplicate(field) => Self::Conflict(format!("{field} is already taken")),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Unexpected(cause) => Self::Internal(cause.to_string()),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Validation(fields) => Self::Validation(fields),
            IdentityError::Taken(field) => Self::Conflict(format!("{field} is already taken")),
            IdentityError::InvalidCredentials => {
                Self::Unauthorized("invalid username/e-mail or password".into())
            }
            IdentityError::AccountDisabled => Self::Forbidden("this account is disabled".into()),
            IdentityError::InvalidToken => Self::Unauthorized("invalid or expired token".into()),
            IdentityError::TokenReused => Self::Unauthorized(
                "refresh token already used; the session has been revoked, log in again".into(),
            ),
            IdentityError::RateLimited { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            IdentityError::NotFound => Self::NotFound("not found".into()),
            IdentityError::Store(s) => s.into(),
            IdentityError::Internal(cause) => Self::Internal(cause),
        }
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
    fn status_table() {
        let cases: Vec<(ApiError, u16)> = vec![
            (IdentityError::Validation(vec![]).into(), 422),
            (IdentityError::Taken("email".into()).into(), 409),
            (IdentityError::InvalidCredentials.into(), 401),
            (IdentityError::TokenReused.into(), 401),
            (IdentityError::AccountDisabled.into(), 403),
            (
                IdentityError::RateLimited {
                    retry_after_secs: 3,
                }
                .into(),
                429,
            ),
            (StoreError::Unavailable("db".into()).into(), 503),
            (IdentityError::Internal("boom".into()).into(), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err:?}");
        }
    }

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
        let p = ApiError::Internal("password=hunter2 in query".into()).problem();
        assert!(!p.detail.unwrap_or_default().contains("hunter2"));
    }
}
