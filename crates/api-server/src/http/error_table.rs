//! The error table: every domain error a handler can meet, mapped to the [`ApiError`] that
//! answers it (whose own table, [`ApiError::problem_type`], gives the status, problem type
//! and title). One file, so a new domain error variant is mapped in one place and the
//! compiler points here when one is added.

use domain_core::{FieldError, StoreError};
use domain_debates::DebateError;
use domain_identity::IdentityError;
use domain_notifications::NotificationError;
use domain_org::OrgError;
use domain_rbac::RbacError;

use super::problem::ApiError;
use crate::commands::Refused;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Duplicate(field) => Self::Conflict(format!("{field} is already taken")),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            // the whole error, so the log shows "unexpected storage error: …" and its causes
            e @ StoreError::Unexpected(_) => Self::internal(e),
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
            e @ IdentityError::Internal(_) => Self::internal(e),
        }
    }
}

impl From<RbacError> for ApiError {
    fn from(e: RbacError) -> Self {
        match e {
            RbacError::Forbidden(d) => Self::Forbidden(d.explain()),
            RbacError::Escalation(r) => Self::Forbidden(r.to_string()),
            RbacError::UnknownScope(s) => Self::NotFound(format!("no such scope {s}")),
            RbacError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            RbacError::Invalid(field, message) => {
                Self::Validation(vec![FieldError::new(field, message)])
            }
            RbacError::Conflict(m) => Self::Conflict(m),
            RbacError::Protected(p) => Self::ProtectedRole(p.to_string()),
            RbacError::Store(s) => s.into(),
        }
    }
}

impl From<OrgError> for ApiError {
    fn from(e: OrgError) -> Self {
        match e {
            OrgError::Invalid { field, message } => {
                Self::Validation(vec![FieldError::new(field, message)])
            }
            OrgError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            OrgError::Conflict(m) => Self::Conflict(m),
            OrgError::Store(s) => s.into(),
        }
    }
}

impl From<DebateError> for ApiError {
    fn from(e: DebateError) -> Self {
        match e {
            DebateError::Invalid { field, message } => {
                Self::Validation(vec![FieldError::new(field, message)])
            }
            DebateError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            DebateError::Conflict(m) => Self::Conflict(m),
            DebateError::NotAllowed(m) => Self::Forbidden(m),
            e @ DebateError::Muted { .. } => Self::Muted(e.to_string()),
            DebateError::Store(s) => s.into(),
        }
    }
}

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Invalid { field, message } => {
                Self::Validation(vec![FieldError::new(field, message)])
            }
            NotificationError::NotFound => Self::NotFound("notification not found".into()),
            NotificationError::Store(s) => s.into(),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::NotFound => Self::NotFound("session not found".into()),
            Refused::Forbidden(why) => Self::Forbidden(why),
            Refused::RateLimited { retry_after, .. } => Self::TooManyRequests {
                // whole seconds, rounded up: a client that waits that long is accepted
                retry_after_secs: retry_after.as_millis().div_ceil(1000).max(1) as u64,
            },
            Refused::Debate(e) => e.into(),
            Refused::Unavailable(why) => Self::Unavailable(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::ResponseError;
    use domain_rbac::{AssignRefusal, Decision, Protected, Reason};

    use super::*;

    /// What a client sees: status and problem type.
    fn seen(e: impl Into<ApiError>) -> (u16, String) {
        let e = e.into();
        (e.status_code().as_u16(), e.problem().kind)
    }

    fn row(status: u16, slug: &str) -> (u16, String) {
        (status, format!("/problems/{slug}"))
    }

    fn unexpected() -> StoreError {
        StoreError::Unexpected("disk on fire".into())
    }

    // Every variant of every domain error, so a changed mapping is a visible diff here.
    #[test]
    fn every_domain_error_has_its_row() {
        let store = [
            (seen(StoreError::NotFound), row(404, "not-found")),
            (
                seen(StoreError::Duplicate("email".into())),
                row(409, "conflict"),
            ),
            (
                seen(StoreError::Unavailable("db".into())),
                row(503, "unavailable"),
            ),
            (seen(unexpected()), row(500, "internal")),
        ];
        let identity = [
            (
                seen(IdentityError::Validation(vec![])),
                row(422, "validation"),
            ),
            (
                seen(IdentityError::Taken("email".into())),
                row(409, "conflict"),
            ),
            (
                seen(IdentityError::InvalidCredentials),
                row(401, "unauthorized"),
            ),
            (seen(IdentityError::AccountDisabled), row(403, "forbidden")),
            (seen(IdentityError::InvalidToken), row(401, "unauthorized")),
            (seen(IdentityError::TokenReused), row(401, "unauthorized")),
            (
                seen(IdentityError::RateLimited {
                    retry_after_secs: 3,
                }),
                row(429, "rate-limited"),
            ),
            (seen(IdentityError::NotFound), row(404, "not-found")),
            (
                seen(IdentityError::Store(unexpected())),
                row(500, "internal"),
            ),
            (
                seen(IdentityError::Internal("argon2".into())),
                row(500, "internal"),
            ),
        ];
        let denied = Decision {
            allowed: false,
            reason: Reason::NoGrant,
        };
        let rbac = [
            (seen(RbacError::Forbidden(denied)), row(403, "forbidden")),
            (
                seen(RbacError::Escalation(AssignRefusal::OwnGrant)),
                row(403, "forbidden"),
            ),
            (
                seen(RbacError::UnknownScope("campus:x".into())),
                row(404, "not-found"),
            ),
            (
                seen(RbacError::NotFound("grant".into())),
                row(404, "not-found"),
            ),
            (
                seen(RbacError::Invalid("role".into(), "unknown".into())),
                row(422, "validation"),
            ),
            (
                seen(RbacError::Conflict("exists".into())),
                row(409, "conflict"),
            ),
            (
                seen(RbacError::Protected(Protected::SuperAdminKeepsEverything(
                    "role.read".parse().unwrap(),
                ))),
                row(409, "protected-role"),
            ),
            (
                seen(RbacError::Store(StoreError::Unavailable("redis".into()))),
                row(503, "unavailable"),
            ),
        ];
        let org = [
            (
                seen(OrgError::Invalid {
                    field: "name".into(),
                    message: "empty".into(),
                }),
                row(422, "validation"),
            ),
            (
                seen(OrgError::NotFound("campus".into())),
                row(404, "not-found"),
            ),
            (
                seen(OrgError::Conflict("slug".into())),
                row(409, "conflict"),
            ),
            (
                seen(OrgError::Store(StoreError::NotFound)),
                row(404, "not-found"),
            ),
        ];
        let debates = [
            (
                seen(DebateError::Invalid {
                    field: "body".into(),
                    message: "empty".into(),
                }),
                row(422, "validation"),
            ),
            (
                seen(DebateError::NotFound("session".into())),
                row(404, "not-found"),
            ),
            (
                seen(DebateError::Conflict("closed".into())),
                row(409, "conflict"),
            ),
            (
                seen(DebateError::NotAllowed("not seated".into())),
                row(403, "forbidden"),
            ),
            (seen(DebateError::Muted { until: None }), row(403, "muted")),
            (seen(DebateError::Store(unexpected())), row(500, "internal")),
        ];
        let notifications = [
            (
                seen(NotificationError::Invalid {
                    field: "channel".into(),
                    message: "unknown".into(),
                }),
                row(422, "validation"),
            ),
            (seen(NotificationError::NotFound), row(404, "not-found")),
            (
                seen(NotificationError::Store(StoreError::Duplicate("x".into()))),
                row(409, "conflict"),
            ),
        ];
        let refused = [
            (seen(Refused::NotFound), row(404, "not-found")),
            (
                seen(Refused::Forbidden("audience".into())),
                row(403, "forbidden"),
            ),
            (
                seen(Refused::Debate(DebateError::Muted { until: None })),
                row(403, "muted"),
            ),
            (
                seen(Refused::Unavailable("redis".into())),
                row(503, "unavailable"),
            ),
        ];
        for (got, want) in store
            .into_iter()
            .chain(identity)
            .chain(rbac)
            .chain(org)
            .chain(debates)
            .chain(notifications)
            .chain(refused)
        {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_refused_rate_tells_whole_seconds_rounded_up() {
        let e = ApiError::from(Refused::RateLimited {
            retry_after: Duration::from_millis(1_200),
            rate: crate::send_rate::SendRate {
                per_second: 5.0,
                burst: 10,
            },
        });
        assert!(matches!(
            e,
            ApiError::TooManyRequests {
                retry_after_secs: 2
            }
        ));
    }

    #[test]
    fn an_unexpected_store_error_keeps_its_cause_for_the_log_only() {
        let e = ApiError::from(IdentityError::Store(unexpected()));
        let logged = e.log_chain();
        assert!(logged.contains("disk on fire"), "{logged}");
        let body = serde_json::to_string(&e.problem()).unwrap();
        assert!(!body.contains("disk on fire"), "{body}");
    }
}
