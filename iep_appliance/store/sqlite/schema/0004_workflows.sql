-- 0004: workflows (issue 7): named queues, batches, and the queue a job belongs to.

-- Named queues per tenant. The `default` queue is created on first use.
-- state: active | paused (accepts, sends nothing) | draining (rejects new, finishes the rest).
-- retry_schedule: JSON list of seconds, NULL = `[delivery].retry_schedule`.
CREATE TABLE queues (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 5,
    rate_per_minute INTEGER,
    retry_schedule  TEXT,
    state           TEXT NOT NULL DEFAULT 'active',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One row per accepted batch; its messages carry batch_id.
CREATE TABLE batches (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    count           INTEGER NOT NULL,
    queue           TEXT NOT NULL,
    scheduled_at    TEXT,
    sandbox         INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    body_hash       TEXT,
    created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX batches_idempotency ON batches(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX batches_tenant_created ON batches(tenant_id, created_at);

-- The queue of a send job (NULL for other kinds). Jobs of a paused queue wait in
-- state 'paused', so the claim never has to step over them.
ALTER TABLE jobs ADD COLUMN queue_id TEXT;
-- Queue stats, pause/resume and rate holds find a queue's jobs by state without a scan.
CREATE INDEX jobs_queue ON jobs(queue_id, state, updated_at) WHERE queue_id IS NOT NULL;
