//! Operational endpoints: liveness, readiness, metrics.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;

use super::endpoint::Endpoint;
use super::metrics::Metrics;
use super::problem::{PROBLEM_JSON, Problem};
use super::state::OpsState;

/// Health report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per backing service (`postgres`, `redis`): `ok` or `down`.
    pub checks: BTreeMap<String, String>,
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
            .description(
                "200 when every backing service answered; 503 problem+json otherwise, whose \
                 `checks` member says `ok` or `down` per service (`postgres`, `redis`), never \
                 why: the cause goes to the server's log.",
            )
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

/// The 503 answer of `/readyz`: a problem document that also names each dependency's
/// state, so an operator sees which one is down without internal error text (which could
/// carry host names or driver details) leaving the process.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NotReady {
    /// The problem (`/problems/not-ready`).
    #[serde(flatten)]
    pub problem: Problem,
    /// Per backing service: `ok` or `down`.
    pub checks: BTreeMap<String, String>,
}

/// How long one probe may take before its service counts as down.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    // probes run side by side: one hanging service must not delay the verdict on another
    let outcomes = futures_util::future::join_all(state.health.iter().map(|probe| async move {
        let up = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
            Ok(Ok(())) => true,
            Ok(Err(reason)) => {
                // the reason stays in the log: it may name hosts, users or driver internals
                tracing::warn!(service = probe.name(), %reason, "readiness probe failed");
                false
            }
            Err(_) => {
                tracing::warn!(service = probe.name(), "readiness probe timed out");
                false
            }
        };
        (probe.name(), up)
    }))
    .await;
    let ok = outcomes.iter().all(|(_, up)| *up);
    let checks: BTreeMap<String, String> = outcomes
        .into_iter()
        .map(|(name, up)| (name.to_owned(), if up { "ok" } else { "down" }.to_owned()))
        .collect();
    if ok {
        return HttpResponse::Ok().json(HealthReport {
            status: "ok".into(),
            checks,
        });
    }
    let down: Vec<&str> = checks
        .iter()
        .filter(|(_, state)| state.as_str() == "down")
        .map(|(name, _)| name.as_str())
        .collect();
    let problem = Problem::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        format!("unavailable: {}", down.join(", ")),
    );
    HttpResponse::ServiceUnavailable()
        .content_type(PROBLEM_JSON)
        .json(NotReady { problem, checks })
}

async fn metrics(metrics: web::Data<Metrics>, state: web::Data<OpsState>) -> HttpResponse {
    // Figures read at scrape time, so no request pays for them. A queue that does not
    // answer in time leaves the last figures in place rather than delaying the scrape.
    for probe in state.health.iter() {
        if let Some(stats) = probe.pool_stats() {
            metrics.pool(probe.name(), stats);
        }
    }
    let jobs = &state.jobs;
    if let Ok(Ok(counts)) =
        tokio::time::timeout(PROBE_TIMEOUT, jobs.queue.counts(jobs.clock.now())).await
    {
        metrics.jobs(counts);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
