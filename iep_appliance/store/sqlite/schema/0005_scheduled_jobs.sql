-- 0005: recurring sends (issue 7). A scheduled job holds a cron expression, an IANA timezone
-- and the JSON body of a send or a batch; every tick it runs is one row in
-- scheduled_job_runs, written in the same transaction as the messages it creates, so a tick
-- runs exactly once across restarts (the primary key refuses a second row).

CREATE TABLE scheduled_jobs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    cron         TEXT NOT NULL,                -- 5 fields, normalised spacing
    timezone     TEXT NOT NULL,                -- IANA name
    kind         TEXT NOT NULL,                -- message | batch
    payload      TEXT NOT NULL,                -- JSON body of the send or batch (camelCase)
    active       INTEGER NOT NULL DEFAULT 1,
    sandbox      INTEGER NOT NULL DEFAULT 0,   -- created with a sandbox key: runs are sandboxed
    revision     INTEGER NOT NULL DEFAULT 1,   -- bumped by every update (runs compare it)
    last_run_at  TEXT,
    next_run_at  TEXT,                         -- NULL while inactive
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX scheduled_jobs_tenant ON scheduled_jobs(tenant_id, created_at, id);
-- The ticker's only question: which active job is due next.
CREATE INDEX scheduled_jobs_due ON scheduled_jobs(next_run_at) WHERE active = 1;

-- tick: the UTC instant (ISO 8601) of a cron tick, or `manual:<id>` for a run-now.
CREATE TABLE scheduled_job_runs (
    scheduled_job_id TEXT NOT NULL,
    tick             TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    message_id       TEXT,
    batch_id         TEXT,
    count            INTEGER NOT NULL DEFAULT 0,
    error            TEXT,                      -- why a tick created nothing
    created_at       TEXT NOT NULL,
    PRIMARY KEY (scheduled_job_id, tick)
) WITHOUT ROWID;
CREATE INDEX scheduled_job_runs_created ON scheduled_job_runs(scheduled_job_id, created_at);
