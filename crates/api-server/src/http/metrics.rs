//! Metrics in the Prometheus text format, through the `metrics` facade and
//! `metrics-exporter-prometheus` (rendered by our own `/metrics` route: the exporter's
//! HTTP listener, and hyper with it, stay out).
//!
//! What is recorded, and where:
//! - per request (the `http::context` middleware): a counter by method, route *pattern*
//!   (never the raw path, which would explode cardinality) and status, and a latency
//!   histogram by method, route pattern and status class;
//! - per WebSocket connection (`realtime::connection`): the open connections, and frames
//!   in and out, counted through handles the connection keeps (an atomic add per frame);
//! - per job outcome (the worker's queue, wrapped in `jobs`): runs done, retried, dead;
//! - at each scrape: the job queue's figures and the PostgreSQL and Redis pools' waits,
//!   read from the queue and from bb8's own statistics, so no request pays for them.
//!
//! The recorder is process-wide (the facade has one); servers started in one process
//! (the API tests start many) share it.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use metrics::{Counter, Gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter of HTTP requests, by method, route pattern and exact status.
pub const HTTP_REQUESTS: &str = "agora_http_requests_total";
/// Histogram of the time to answer HTTP requests, by method, route pattern and status
/// class.
pub const HTTP_DURATION: &str = "agora_http_request_duration_seconds";
/// Gauge of open WebSocket connections.
pub const WS_CONNECTIONS: &str = "agora_ws_connections";
/// Counter of WebSocket frames, by direction (`in`, `out`).
pub const WS_FRAMES: &str = "agora_ws_frames_total";
/// Counter of finished job runs, by outcome (`done`, `retry`, `dead`).
pub const JOB_RUNS: &str = "agora_job_runs_total";
/// Gauge of jobs, by state (`queued`, `scheduled`, `running`, `stalled`, `done`, `dead`).
pub const JOBS: &str = "agora_jobs";
/// Gauge of a pool's open connections, by pool (`postgres`, `redis`).
pub const POOL_CONNECTIONS: &str = "agora_pool_connections";
/// Gauge of a pool's idle connections.
pub const POOL_IDLE: &str = "agora_pool_idle_connections";
/// Gauge of requests waiting for a pooled connection right now.
pub const POOL_PENDING: &str = "agora_pool_pending_acquires";
/// Counter of acquires that had to wait for a connection.
pub const POOL_WAITS: &str = "agora_pool_waits_total";
/// Counter of the time spent waiting for connections, in microseconds.
pub const POOL_WAIT_TIME: &str = "agora_pool_wait_microseconds_total";
/// Counter of acquires that timed out (answered 503).
pub const POOL_TIMEOUTS: &str = "agora_pool_acquire_timeouts_total";

/// Upper bounds of the request latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often recorded latencies are folded into the histograms between scrapes; without
/// it they pile up in memory when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's metrics: the handle that renders them.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

/// A pool's figures, as bb8 counts them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Open connections.
    pub connections: u32,
    /// Of them, idle.
    pub idle: u32,
    /// Acquires waiting now.
    pub pending: u64,
    /// Acquires that had to wait, since start.
    pub waited: u64,
    /// Time spent waiting, since start.
    pub wait_time: Duration,
    /// Acquires that timed out, since start.
    pub timed_out: u64,
}

impl Metrics {
    /// The process's recorder, installed on first use (later calls share it). Call it
    /// inside a Tokio runtime: the first call starts the upkeep task there.
    pub fn install() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            // only empty buckets are refused, and these are not
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let upkeep = handle.clone();
                rt.spawn(async move {
                    let mut every = tokio::time::interval(UPKEEP_EVERY);
                    loop {
                        every.tick().await;
                        upkeep.run_upkeep();
                    }
                });
            }
            handle
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// Records one finished request; `route` is the matched pattern, `None` when no
    /// route matched.
    pub fn observe(
        &self,
        method: &Method,
        route: Option<String>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        let route: metrics::SharedString = match route {
            Some(pattern) => std::sync::Arc::<str>::from(pattern).into(),
            None => "unmatched".into(),
        };
        metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status_label(status))
            .increment(1);
        metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route, "status" => status_class(status))
            .record(elapsed.as_secs_f64());
    }

    /// Records a pool's figures (at scrape time).
    pub fn pool(&self, pool: &'static str, stats: PoolStats) {
        metrics::gauge!(POOL_CONNECTIONS, "pool" => pool).set(stats.connections);
        metrics::gauge!(POOL_IDLE, "pool" => pool).set(stats.idle);
        metrics::gauge!(POOL_PENDING, "pool" => pool).set(stats.pending as f64);
        metrics::counter!(POOL_WAITS, "pool" => pool).absolute(stats.waited);
        let micros = u64::try_from(stats.wait_time.as_micros()).unwrap_or(u64::MAX);
        metrics::counter!(POOL_WAIT_TIME, "pool" => pool).absolute(micros);
        metrics::counter!(POOL_TIMEOUTS, "pool" => pool).absolute(stats.timed_out);
    }

    /// Records the job queue's figures (at scrape time).
    pub fn jobs(&self, counts: domain_jobs::JobCounts) {
        for (state, n) in [
            ("queued", counts.queued),
            ("scheduled", counts.scheduled),
            ("running", counts.running),
            ("stalled", counts.stalled),
            ("done", counts.done),
            ("dead", counts.dead),
        ] {
            metrics::gauge!(JOBS, "state" => state).set(n as f64);
        }
    }

    /// The metrics as Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Counts a finished job run (`done`, `retry`, `dead`).
pub fn job_run(outcome: &'static str) {
    metrics::counter!(JOB_RUNS, "outcome" => outcome).increment(1);
}

/// One open WebSocket connection, counted until dropped, with the handles its frames are
/// counted through (looked up once per connection, not once per frame).
pub struct SocketMeter {
    open: Gauge,
    /// Frames received.
    pub frames_in: Counter,
    /// Frames sent.
    pub frames_out: Counter,
}

impl SocketMeter {
    /// Counts a connection as open.
    pub fn open() -> Self {
        let open = metrics::gauge!(WS_CONNECTIONS);
        open.increment(1.0);
        Self {
            open,
            frames_in: metrics::counter!(WS_FRAMES, "direction" => "in"),
            frames_out: metrics::counter!(WS_FRAMES, "direction" => "out"),
        }
    }
}

impl Drop for SocketMeter {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests served.");
    metrics::describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer HTTP requests."
    );
    metrics::describe_gauge!(WS_CONNECTIONS, "Open WebSocket connections.");
    metrics::describe_counter!(WS_FRAMES, "WebSocket frames received (in) and sent (out).");
    metrics::describe_counter!(JOB_RUNS, "Background job runs finished, by outcome.");
    metrics::describe_gauge!(JOBS, "Background jobs by state, at the last scrape.");
    metrics::describe_gauge!(POOL_CONNECTIONS, "Open connections of a pool.");
    metrics::describe_gauge!(POOL_IDLE, "Idle connections of a pool.");
    metrics::describe_gauge!(POOL_PENDING, "Acquires waiting for a pooled connection.");
    metrics::describe_counter!(POOL_WAITS, "Acquires that waited for a pooled connection.");
    metrics::describe_counter!(
        POOL_WAIT_TIME,
        Unit::Microseconds,
        "Time spent waiting for pooled connections."
    );
    metrics::describe_counter!(
        POOL_TIMEOUTS,
        "Acquires that timed out waiting for a pooled connection."
    );
}

/// A `'static` label for the method: the label needs no allocation for the common ones.
fn method_label(method: &Method) -> metrics::SharedString {
    let known = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return method.as_str().to_owned().into(),
    };
    known.into()
}

/// The status as a `'static` label for the statuses the API answers, allocated otherwise.
fn status_label(status: StatusCode) -> metrics::SharedString {
    let known = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        307 => "307",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        409 => "409",
        410 => "410",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return other.to_string().into(),
    };
    known.into()
}

/// The status class (`2xx` …): the histogram's label, so its series (a dozen buckets
/// each) do not multiply by every status.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_match_the_status() {
        for code in [200, 204, 404, 418, 429, 503, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_label(status).as_ref(), code.to_string());
            assert_eq!(&status_class(status)[..1], &code.to_string()[..1]);
        }
        assert_eq!(method_label(&Method::GET).as_ref(), "GET");
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&custom).as_ref(), "PROPFIND");
    }
}
