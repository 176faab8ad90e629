//! Operational endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;

use super::metrics::Metrics;
use super::problem::{PROBLEM_JSON, Problem};
use super::routes::Endpoint;
use super::state::AppState;

/// Health report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per backing service: `ok` or the reason it failed.
    pub checks: std::collections::BTreeMap<String, String>,
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/healthz", "healthz")
            .summary("operations", "Liveness: the process is up")
            .public()
            .returns::<HealthReport>(200, "The process is alive")
            .to(healthz),
        Endpoint::get("/readyz", "readyz")
            .summary("operations", "Readiness: the database and Redis are reachable")
            .public()
            .returns::<HealthReport>(200, "Every backing service answered")
            .errors(&[503])
            .to(readyz),
        Endpoint::get("/metrics", "metrics")
            .summary("operations", "Prometheus metrics")
            .description("Request counts and latency histograms by route and status, in the Prometheus text format.")
            .public()
            .returns_raw(200, "Metrics in text exposition format 0.0.4", Some("text/plain"))
            .to(metrics),
    ]
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthReport {
        status: "ok".into(),
        checks: Default::default(),
    })
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = std::collections::BTreeMap::new();
    let mut ok = true;
    for probe in state.health.iter() {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(3), probe.check()).await;
        let text = match outcome {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(reason)) => {
                ok = false;
                reason
            }
            Err(_) => {
                ok = false;
                "timed out".to_owned()
            }
        };
        checks.insert(probe.name().to_owned(), text);
    }
    let report = HealthReport {
        status: if ok { "ok" } else { "unavailable" }.into(),
        checks,
    };
    if ok {
        HttpResponse::Ok().json(report)
    } else {
        let mut p = Problem::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            serde_json::to_string(&report.checks).ok(),
        );
        p.title = "Service Unavailable".into();
        HttpResponse::ServiceUnavailable()
            .content_type(PROBLEM_JSON)
            .json(p)
    }
}

async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
