-- Durable background jobs (domain-jobs' JobQueue).
--
-- A job is a row: enqueued in the transaction of the business change that causes it (a
-- transactional outbox: both commit or neither), claimed by workers with
-- `FOR UPDATE SKIP LOCKED` under a lease, retried with backoff, and parked as `dead`
-- after its last attempt for an operator to retry. Done jobs stay until purged, so a
-- dedupe key keeps working after its job ran (periodic jobs: one per time slot).
CREATE TABLE jobs (
    id           uuid        PRIMARY KEY,
    -- Which handler runs it, e.g. `email.send`.
    kind         text        NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 100),
    payload      jsonb       NOT NULL,
    status       text        NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    -- Runs started (a claim counts one); may pass max_attempts by one when the worker of
    -- the last attempt died, and the next claim then buries the job.
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer     NOT NULL CHECK (max_attempts >= 1),
    run_at       timestamptz NOT NULL,
    -- The worker that claimed it last; kept after the run, for operators.
    locked_by    text        CHECK (char_length(locked_by) BETWEEN 1 AND 200),
    -- The lease: set exactly while running, so an expired one means a dead worker.
    locked_until timestamptz,
    last_error   text,
    dedupe_key   text        CHECK (char_length(dedupe_key) BETWEEN 1 AND 300),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT jobs_lease_while_running
        CHECK ((status = 'running') = (locked_until IS NOT NULL)
            AND (status <> 'running' OR locked_by IS NOT NULL)),
    -- NULLs are distinct: jobs without a key never clash.
    CONSTRAINT jobs_dedupe_key_key UNIQUE (dedupe_key)
);

-- The claim: one ordered scan over (run_at, id) that stops after `limit` rows. Running
-- rows are in it too, so expired leases are found by the same scan (the few live ones
-- are filtered out: at most the workers' total concurrency). Partial, so the done and
-- dead rows that accumulate never slow a claim down. (An OR of a queued-only and a
-- running-only index would have to sort every due row before the LIMIT: 20 ms instead
-- of 1 ms with a backlog of 20 000.)
CREATE INDEX jobs_claim_idx ON jobs (run_at, id) WHERE status IN ('queued', 'running');
-- Running jobs by lease end: stalled jobs for operators.
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
-- The admin list, newest first, overall and per status (also the counts per status).
CREATE INDEX jobs_created_at_id_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_at_id_idx ON jobs (status, created_at DESC, id DESC);
-- The purge of old done jobs.
CREATE INDEX jobs_done_idx ON jobs (updated_at) WHERE status = 'done';
