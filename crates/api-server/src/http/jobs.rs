//! `/api/admin/jobs/…`: the background-job queue as operators see it — lists, counts per
//! state, one job, and putting a dead job back in the queue.
//!
//! Jobs carry e-mail addresses and other users' data and belong to no institution, so
//! the endpoints require a `job` permission in the global scope — `job.read` to look,
//! `job.update` to retry — which only `super_admin` holds by default. Reading the audit
//! trail is not enough: it says nothing about re-running other people's work.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_core::PageLimit;
use domain_jobs::{Job, JobCounts, JobStatus};
use domain_rbac::Scope;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::guard::Authorize;
use super::paging::{next_cursor, uuid_after};
use super::problem::ApiError;
use super::state::OpsState;

/// A background job.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct JobDto {
    /// Id.
    pub id: Uuid,
    /// Which handler runs it, e.g. `email.send`.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `dead`.
    #[schemars(schema_with = "crate::http::schema::job_status")]
    pub status: String,
    /// Runs started so far.
    pub attempts: u32,
    /// Runs allowed before it goes dead.
    pub max_attempts: u32,
    /// Not run before this instant.
    pub run_at: DateTime<Utc>,
    /// The worker that claimed it last.
    pub locked_by: Option<String>,
    /// End of the running worker's lease (running jobs only).
    pub locked_until: Option<DateTime<Utc>>,
    /// What its last failed run reported.
    pub last_error: Option<String>,
    /// Its idempotency key, if enqueued with one.
    pub dedupe_key: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last change of state.
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for JobDto {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            payload: j.payload,
            status: j.status.as_str().to_owned(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            locked_by: j.locked_by,
            locked_until: j.locked_until,
            last_error: j.last_error,
            dedupe_key: j.dedupe_key,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// A page of jobs.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct JobPage {
    /// Newest first.
    pub items: Vec<JobDto>,
    /// Cursor of the next page (pass as `after`).
    pub next: Option<String>,
}

/// How many jobs are in each state.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct JobCountsDto {
    /// Queued jobs, due or not.
    pub queued: u64,
    /// Of `queued`, those not due yet.
    pub scheduled: u64,
    /// Running jobs.
    pub running: u64,
    /// Of `running`, those whose worker's lease expired (the next claim takes them).
    pub stalled: u64,
    /// Done jobs not yet purged (kept 7 days).
    pub done: u64,
    /// Dead jobs, waiting for an operator.
    pub dead: u64,
}

impl From<JobCounts> for JobCountsDto {
    fn from(c: JobCounts) -> Self {
        Self {
            queued: c.queued,
            scheduled: c.scheduled,
            running: c.running,
            stalled: c.stalled,
            done: c.done,
            dead: c.dead,
        }
    }
}

/// Filters and paging of the job list.
#[derive(Deserialize, JsonSchema)]
pub struct JobQuery {
    /// Only jobs in this state: `queued`, `running`, `done` or `dead`.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::job_status_or_null")]
    pub status: Option<String>,
    /// Cursor from the previous page's `next`.
    pub after: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

fn status_filter(text: Option<&str>) -> Result<Option<JobStatus>, ApiError> {
    text.map(|s| {
        JobStatus::parse(s).ok_or_else(|| {
            ApiError::Validation(vec![domain_core::FieldError::new(
                "status",
                "expected queued, running, done or dead",
            )])
        })
    })
    .transpose()
}

async fn list(
    state: web::Data<OpsState>,
    auth: Authorize,
    q: web::Query<JobQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let q = q.into_inner();
    let status = status_filter(q.status.as_deref())?;
    let after = uuid_after(q.after.as_deref())?;
    let limit = PageLimit::new(q.limit);
    let items = state.jobs.queue.list(status, after, limit.get()).await?;
    let next = next_cursor(items.last().map(|j| j.id), items.len(), limit);
    Ok(HttpResponse::Ok().json(JobPage {
        items: items.into_iter().map(Into::into).collect(),
        next,
    }))
}

async fn counts(state: web::Data<OpsState>, auth: Authorize) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let counts = state.jobs.queue.counts(state.jobs.clock.now()).await?;
    Ok(HttpResponse::Ok().json(JobCountsDto::from(counts)))
}

async fn get(
    state: web::Data<OpsState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let job = state
        .jobs
        .queue
        .get(id.into_inner())
        .await?
        .ok_or_else(|| ApiError::NotFound("no such job".into()))?;
    Ok(HttpResponse::Ok().json(JobDto::from(job)))
}

async fn retry(
    state: web::Data<OpsState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::Global).await?;
    let id = id.into_inner();
    if !state.jobs.queue.retry(id, state.jobs.clock.now()).await? {
        // not retried: say whether it is missing or merely not dead
        return Err(match state.jobs.queue.get(id).await? {
            None => ApiError::NotFound("no such job".into()),
            Some(job) => ApiError::Conflict(format!(
                "only a dead job can be retried; this one is {}",
                job.status.as_str()
            )),
        });
    }
    tracing::info!(job = %id, by = ?auth.user_id(), "dead job put back in the queue");
    let job = state
        .jobs
        .queue
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such job".into()))?;
    Ok(HttpResponse::Ok().json(JobDto::from(job)))
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    let tag = "admin";
    vec![
        Endpoint::get("/api/admin/jobs/", "listJobs")
            .summary(tag, "Background jobs, newest first")
            .description("Filter: `status` (`queued`, `running`, `done`, `dead`); paging: `after`, `limit`. Needs `job.read` in the global scope (platform operators).")
            .permission("job.read")
            .query::<JobQuery>()
            .returns::<JobPage>(200, "A page of jobs")
            .errors(&[400, 422])
            .to(list),
        Endpoint::get("/api/admin/jobs/counts/", "countJobs")
            .summary(tag, "How many background jobs are in each state")
            .permission("job.read")
            .returns::<JobCountsDto>(200, "Counts per state")
            .to(counts),
        Endpoint::get("/api/admin/jobs/{id}/", "getJob")
            .summary(tag, "One background job")
            .permission("job.read")
            .returns::<JobDto>(200, "The job")
            .to(get),
        Endpoint::post("/api/admin/jobs/{id}/retry/", "retryJob")
            .summary(tag, "Put a dead job back in the queue")
            .description("Due at once, with its attempts reset to 0. Only dead jobs: 409 otherwise. Needs `job.update` in the global scope.")
            .permission("job.update")
            .returns::<JobDto>(200, "The job, queued again")
            .errors(&[409])
            .to(retry),
    ]
}
