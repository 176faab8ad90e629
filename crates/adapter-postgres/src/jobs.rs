//! [`JobQueue`] over the `jobs` table, and [`enqueue_in`] for the transactional outbox.
//!
//! - Enqueue is `INSERT … ON CONFLICT (dedupe_key) DO NOTHING`; when nothing was inserted
//!   a second statement reads the holder of the key. [`enqueue_in`] runs on any
//!   connection, so a repository can store a job in the same transaction as the change
//!   whose side effects it carries: both commit or neither (the outbox of issue 6).
//! - Claim is ONE statement (see [`CLAIM`]), the pattern of Oban and River: the subquery
//!   picks due rows in claim order and locks them `FOR UPDATE SKIP LOCKED` — rows another
//!   claim holds are passed over, not waited for — and the `UPDATE` marks exactly those
//!   running under the caller's lease. Two claims never return the same job: a row is
//!   locked by at most one of them, and one that committed first no longer matches the
//!   other's condition when the lock is taken (PostgreSQL re-checks the newest row
//!   version).
//! - Every later change of a running job (`complete`, `fail`, `extend`) is conditional on
//!   `status = 'running' AND locked_by = worker`, so a worker whose lease was taken over
//!   changes nothing.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain_core::{DomainEvent, StoreError};
use domain_jobs::{Enqueued, Job, JobCounts, JobQueue, JobStatus, NewJob, event_job};
use uuid::Uuid;

use crate::PgPool;
use crate::error::{db_error, pool_error};
use crate::schema::jobs;

/// The claim: `$1` worker, `$2` now, `$3` lease end, `$4` limit. Due means queued with
/// `run_at <= now`, or running with a lease that ended before `now` (the worker died; a
/// running job's `run_at` is always past). Both are read by one ordered scan of the
/// partial index `jobs_claim_idx (run_at, id) WHERE status IN ('queued', 'running')`,
/// which stops after `limit` lockable rows; the live leases it passes over are at most
/// the workers' total concurrency.
pub const CLAIM: &str = "\
UPDATE jobs
   SET status = 'running', locked_by = $1, locked_until = $3,
       attempts = attempts + 1, updated_at = $2
 WHERE id IN (
       SELECT id FROM jobs
        WHERE status IN ('queued', 'running') AND run_at <= $2
          AND (status = 'queued' OR locked_until < $2)
        ORDER BY run_at, id
        FOR UPDATE SKIP LOCKED
        LIMIT $4)
RETURNING id, kind, payload, status, attempts, max_attempts, run_at, locked_by,
          locked_until, last_error, dedupe_key, created_at, updated_at";

/// The insert: `$1` id … `$8` now; returns the id, or nothing when the dedupe key is
/// taken.
const INSERT: &str = "\
INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at,
                  dedupe_key, created_at, updated_at)
VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7, $7)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id";

/// Counts per status at `$1`.
const COUNTS: &str = "\
SELECT status,
       count(*) AS n,
       count(*) FILTER (WHERE status = 'queued' AND run_at > $1) AS scheduled,
       count(*) FILTER (WHERE status = 'running' AND locked_until < $1) AS stalled
  FROM jobs
 GROUP BY status";

/// [`JobQueue`] over PostgreSQL.
#[derive(Clone)]
pub struct PgJobQueue {
    pool: PgPool,
}

impl PgJobQueue {
    /// A queue using connections from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct JobRow {
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    dedupe_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        let status = JobStatus::parse(&r.status).ok_or_else(|| {
            StoreError::Unexpected(format!("unknown job status {:?}", r.status).into())
        })?;
        Ok(Job {
            id: r.id,
            kind: r.kind,
            payload: r.payload,
            status,
            // The CHECKs keep both non-negative.
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(1),
            run_at: r.run_at,
            locked_by: r.locked_by,
            locked_until: r.locked_until,
            last_error: r.last_error,
            dedupe_key: r.dedupe_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn jobs_of(rows: Vec<JobRow>) -> Result<Vec<Job>, StoreError> {
    rows.into_iter().map(Job::try_from).collect()
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql_types::Uuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = sql_types::Text)]
    status: String,
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    scheduled: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    stalled: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Records `events` on `conn` as `events.dispatch` jobs (the transactional outbox): called
/// inside a repository's transaction, the events commit with the change or not at all.
/// Each job is due at its event's time and keyed by the event's id.
///
/// # Errors
/// Whatever the inserts report; the caller's transaction then rolls back.
pub async fn record_events(
    conn: &mut AsyncPgConnection,
    events: &[DomainEvent],
) -> QueryResult<()> {
    for event in events {
        enqueue_in(conn, &event_job(event), event.occurred_at).await?;
    }
    Ok(())
}

/// Stores `job` on `conn` — inside the caller's transaction, if one is open, so the job
/// commits or rolls back with the caller's change. A job whose dedupe key is already
/// held by a stored job is not stored; the answer then names that job (`fresh: false`).
///
/// Under the default `READ COMMITTED` isolation the holder of a key committed by another
/// transaction is found; under `REPEATABLE READ` or `SERIALIZABLE` such a clash is a
/// serialization failure instead, to be retried by the caller like any other.
///
/// # Errors
/// The query errors; [`Error::NotFound`] in the (theoretical) case that the holder of
/// the key is deleted every time between the two statements.
pub async fn enqueue_in(
    conn: &mut AsyncPgConnection,
    job: &NewJob,
    now: DateTime<Utc>,
) -> QueryResult<Enqueued> {
    // The holder of a key can be purged between the insert that saw it and the read
    // that looks for it; then the insert is simply tried again.
    for _ in 0..3 {
        let id = Uuid::new_v4();
        let inserted: Option<Id> = diesel::sql_query(INSERT)
            .bind::<sql_types::Uuid, _>(id)
            .bind::<sql_types::Text, _>(&job.kind)
            .bind::<sql_types::Jsonb, _>(&job.payload)
            .bind::<sql_types::Integer, _>(int(job.max_attempts.max(1)))
            .bind::<sql_types::Timestamptz, _>(job.due_at(now))
            .bind::<sql_types::Nullable<sql_types::Text>, _>(job.dedupe_key.as_deref())
            .bind::<sql_types::Timestamptz, _>(now)
            .get_result(conn)
            .await
            .optional()?;
        if let Some(row) = inserted {
            return Ok(Enqueued {
                id: row.id,
                fresh: true,
            });
        }
        let Some(key) = job.dedupe_key.as_deref() else {
            // Without a key nothing can conflict; an insert that returned no row is a
            // broken invariant, reported as such.
            return Err(Error::NotFound);
        };
        let holder: Option<Uuid> = jobs::table
            .filter(jobs::dedupe_key.eq(key))
            .select(jobs::id)
            .first(conn)
            .await
            .optional()?;
        if let Some(id) = holder {
            return Ok(Enqueued { id, fresh: false });
        }
    }
    Err(Error::NotFound)
}

#[async_trait]
impl JobQueue for PgJobQueue {
    async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        enqueue_in(&mut conn, &job, now).await.map_err(db_error)
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut rows: Vec<JobRow> = diesel::sql_query(CLAIM)
            .bind::<sql_types::Text, _>(worker)
            .bind::<sql_types::Timestamptz, _>(now)
            .bind::<sql_types::Timestamptz, _>(now + lease)
            .bind::<sql_types::BigInt, _>(i64::from(limit))
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        // RETURNING keeps no order; hand the jobs out in claim order.
        rows.sort_by_key(|r| (r.run_at, r.id));
        jobs_of(rows)
    }

    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n = diesel::update(held_by(id, worker))
            .set((
                jobs::status.eq(JobStatus::Done.as_str()),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
                jobs::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(n == 1)
    }

    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let common = (
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::last_error.eq(error),
            jobs::updated_at.eq(now),
        );
        let n = match retry_at {
            Some(at) => {
                diesel::update(held_by(id, worker))
                    .set((
                        jobs::status.eq(JobStatus::Queued.as_str()),
                        jobs::run_at.eq(at),
                        common,
                    ))
                    .execute(&mut conn)
                    .await
            }
            None => {
                diesel::update(held_by(id, worker))
                    .set((jobs::status.eq(JobStatus::Dead.as_str()), common))
                    .execute(&mut conn)
                    .await
            }
        }
        .map_err(db_error)?;
        Ok(n == 1)
    }

    async fn extend(
        &self,
        id: Uuid,
        worker: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n = diesel::update(held_by(id, worker))
            .set(jobs::locked_until.eq(until))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(n == 1)
    }

    async fn counts(&self, now: DateTime<Utc>) -> Result<JobCounts, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let rows: Vec<StatusCount> = diesel::sql_query(COUNTS)
            .bind::<sql_types::Timestamptz, _>(now)
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        let mut counts = JobCounts::default();
        for row in rows {
            match JobStatus::parse(&row.status) {
                Some(JobStatus::Queued) => {
                    counts.queued = count(row.n);
                    counts.scheduled = count(row.scheduled);
                }
                Some(JobStatus::Running) => {
                    counts.running = count(row.n);
                    counts.stalled = count(row.stalled);
                }
                Some(JobStatus::Done) => counts.done = count(row.n),
                Some(JobStatus::Dead) => counts.dead = count(row.n),
                // The CHECK admits no other status.
                None => {}
            }
        }
        Ok(counts)
    }

    async fn list(
        &self,
        status: Option<JobStatus>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let mut query = jobs::table.into_boxed();
        if let Some(status) = status {
            query = query.filter(jobs::status.eq(status.as_str()));
        }
        if let Some(after) = after {
            let cursor: Option<(DateTime<Utc>, Uuid)> = jobs::table
                .find(after)
                .select((jobs::created_at, jobs::id))
                .first(&mut conn)
                .await
                .optional()
                .map_err(db_error)?;
            let Some((created_at, id)) = cursor else {
                return Ok(Vec::new());
            };
            query = query.filter(
                jobs::created_at
                    .lt(created_at)
                    .or(jobs::created_at.eq(created_at).and(jobs::id.lt(id))),
            );
        }
        let rows: Vec<JobRow> = query
            .order((jobs::created_at.desc(), jobs::id.desc()))
            .limit(i64::from(limit))
            .select(JobRow::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        jobs_of(rows)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let row: Option<JobRow> = jobs::table
            .find(id)
            .select(JobRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(Job::try_from).transpose()
    }

    async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n = diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq(JobStatus::Dead.as_str())),
        )
        .set((
            jobs::status.eq(JobStatus::Queued.as_str()),
            jobs::attempts.eq(0),
            jobs::run_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(n == 1)
    }

    async fn purge_done(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await.map_err(pool_error)?;
        let n = diesel::delete(
            jobs::table
                .filter(jobs::status.eq(JobStatus::Done.as_str()))
                .filter(jobs::updated_at.lt(older_than)),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The job `id` with its status checked.
type JobWithStatus = diesel::dsl::Filter<
    diesel::dsl::Find<jobs::table, Uuid>,
    diesel::dsl::Eq<jobs::status, &'static str>,
>;

/// The job `id`, if it is running under `worker`'s lease.
fn held_by(
    id: Uuid,
    worker: &str,
) -> diesel::dsl::Filter<JobWithStatus, diesel::dsl::Eq<jobs::locked_by, &str>> {
    jobs::table
        .find(id)
        .filter(jobs::status.eq(JobStatus::Running.as_str()))
        .filter(jobs::locked_by.eq(worker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use diesel_async::AsyncConnection;

    /// The outbox: a job enqueued inside a transaction exists exactly when that
    /// transaction commits.
    #[tokio::test]
    async fn enqueue_in_commits_and_rolls_back_with_the_caller() {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        let queue = PgJobQueue::new(db.pool().clone());
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let mut conn = db.pool().get().await.unwrap();

        let rolled_back: Result<(), Error> = conn
            .transaction(async |conn| {
                let e = enqueue_in(conn, &NewJob::new("k", serde_json::json!(1)), now).await?;
                assert!(e.fresh);
                // The business change fails after the job was written.
                Err(Error::RollbackTransaction)
            })
            .await;
        assert!(rolled_back.is_err());
        assert_eq!(queue.counts(now).await.unwrap().queued, 0);

        let (first, second) = conn
            .transaction(async |conn| {
                let job = NewJob::new("k", serde_json::json!(2)).dedupe_key("once");
                let first = enqueue_in(conn, &job, now).await?;
                // The key is already taken inside the same transaction.
                let second = enqueue_in(conn, &job, now).await?;
                Ok::<_, Error>((first, second))
            })
            .await
            .unwrap();
        assert!(first.fresh);
        assert_eq!((second.id, second.fresh), (first.id, false));
        let stored = queue.get(first.id).await.unwrap().unwrap();
        assert_eq!(stored.payload, serde_json::json!(2));
        assert_eq!(queue.counts(now).await.unwrap().queued, 1);
        drop(conn);
        db.cleanup().await;
    }

    /// Two transactions enqueueing under one key at the same time store one job: the
    /// second waits for the first to commit, then finds its job.
    #[tokio::test]
    async fn concurrent_enqueues_with_one_key_store_one_job() {
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        let queue = PgJobQueue::new(db.pool().clone());
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let enqueue = |i: i32| {
            let queue = queue.clone();
            async move {
                let job = NewJob::new("k", serde_json::json!(i)).dedupe_key("slot@1");
                queue.enqueue(job, now).await.unwrap()
            }
        };
        let results = futures_join(8, enqueue).await;
        let fresh: Vec<_> = results.iter().filter(|e| e.fresh).collect();
        assert_eq!(fresh.len(), 1);
        assert!(results.iter().all(|e| e.id == fresh[0].id));
        assert_eq!(queue.counts(now).await.unwrap().queued, 1);
        db.cleanup().await;
    }

    /// Runs `n` calls of `f` concurrently on spawned tasks.
    async fn futures_join<F, Fut>(n: i32, f: F) -> Vec<Enqueued>
    where
        F: Fn(i32) -> Fut,
        Fut: std::future::Future<Output = Enqueued> + Send + 'static,
    {
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}
