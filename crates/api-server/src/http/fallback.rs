//! Problem answers for what no handler produced itself: unknown routes, wrong methods,
//! and actix's own rejections (malformed JSON, wrong content type, body too large, bad
//! path or query parameters). Together they guarantee every 4xx/5xx is problem+json.

use actix_web::body::EitherBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, web};

use super::problem::{ApiError, PROBLEM_JSON, Problem};

/// Largest JSON body accepted, in bytes.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The JSON extractor configuration: size limit, and problem answers for every failure.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        .error_handler(|err, _req| {
            let api = match &err {
                JsonPayloadError::ContentType => {
                    ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
                }
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    ApiError::PayloadTooLarge(format!("request body larger than {limit} bytes"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::BadRequest(format!("invalid JSON body: {e}"))
                }
                JsonPayloadError::Serialize(e) => ApiError::internal(e.to_string()),
                other => ApiError::BadRequest(format!("could not read the request body: {other}")),
            };
            api.into()
        })
}

/// Path-parameter configuration: a malformed id is a 404 (no such resource), not a 500.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::NotFound(format!("no such resource: {err}")).into()
    })
}

/// Query-string configuration.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::BadRequest(format!("invalid query string: {err}")).into()
    })
}

/// Answer for a path no endpoint serves.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route for {}", req.path()),
    )
    .response()
}

/// Answer for a known path called with a method it does not serve.
pub fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut res = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("allowed methods: {allow}"),
    )
    .response();
    if let Ok(v) = HeaderValue::from_str(allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// Safety net: any error answer that is not already a problem document is replaced by one
/// for the same status, keeping its headers (`Allow`, `Retry-After`, …).
pub fn problem_for_every_error<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_problem = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with(PROBLEM_JSON));
        if is_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let (req, old) = res.into_parts();
        let mut new = Problem::new(status, "", None).response();
        for (name, value) in old.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                new.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let res: ServiceResponse<EitherBody<B>> =
            ServiceResponse::new(req, new).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}
