-- 0001: the data model of DESIGN §3. Timestamps are UTC ISO 8601 text with `Z`
-- (fixed width, so they compare correctly as text); ids are UUIDv7 text.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',   -- JSON: rate limits, attachments, routing, sandbox
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL DEFAULT '',
    key_prefix   TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,                -- JSON list
    sandbox      INTEGER NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 1,
    expires_at   TEXT,
    last_used_at TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id, created_at);

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    batch_id         TEXT,
    queue            TEXT NOT NULL DEFAULT 'default',
    to_addrs         TEXT NOT NULL,           -- JSON list
    cc_addrs         TEXT NOT NULL DEFAULT '[]',
    bcc_addrs        TEXT NOT NULL DEFAULT '[]',
    from_email       TEXT NOT NULL,
    from_name        TEXT,
    reply_to         TEXT,
    subject          TEXT NOT NULL,
    html_body        TEXT NOT NULL,
    text_body        TEXT,
    rendered_subject TEXT,
    rendered_html    TEXT,
    rendered_text    TEXT,
    variables        TEXT NOT NULL DEFAULT '{}',
    metadata         TEXT NOT NULL DEFAULT '{}',
    category         TEXT,
    status           TEXT NOT NULL,
    provider         TEXT,
    priority         TEXT NOT NULL DEFAULT 'normal',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    last_error       TEXT,
    idempotency_key  TEXT,
    body_hash        TEXT,
    sandbox          INTEGER NOT NULL DEFAULT 0,
    scheduled_at     TEXT,
    sent_at          TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_idempotency ON messages(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_tenant_created ON messages(tenant_id, created_at, id);
CREATE INDEX messages_tenant_status ON messages(tenant_id, status, created_at);
CREATE INDEX messages_batch ON messages(batch_id) WHERE batch_id IS NOT NULL;

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    message_id   TEXT NOT NULL REFERENCES messages(id),
    tenant_id    TEXT NOT NULL,
    position     INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    storage_key  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id, position);

-- AUTOINCREMENT: event order is insertion order, never a reused rowid.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE INDEX events_message ON events(message_id, id);

CREATE TABLE suppression_list (
    tenant_id          TEXT NOT NULL,
    email              TEXT NOT NULL,          -- lower-cased
    reason             TEXT NOT NULL,          -- hard_bounce | complaint | manual
    source_message_id  TEXT,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
);

CREATE TABLE bounce_counts (
    tenant_id   TEXT NOT NULL,
    email       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
);

CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,             -- JSON list
    secret           TEXT NOT NULL,
    old_secret       TEXT,
    old_secret_until TEXT,
    active           INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    failing_since    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints(tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY,
    endpoint_id   TEXT NOT NULL,
    tenant_id     TEXT NOT NULL,
    webhook_id    TEXT NOT NULL,               -- stable `webhook-id` of one event
    event         TEXT NOT NULL,
    message_id    TEXT,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER,
    latency_ms    INTEGER,
    error         TEXT,
    next_retry_at TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);

CREATE TABLE allowed_sender_domains (
    tenant_id   TEXT NOT NULL,
    domain      TEXT NOT NULL,                  -- lower-cased
    verified    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, domain)
);

CREATE TABLE admin_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- The durable queue. kind 'send' refs a message, 'webhook' a webhook event.
-- priority: 0 high, 1 normal, 2 low. Retry queue = run_at in the future; DLQ = state 'dead'.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    ref_id       TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 1,
    run_at       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'ready',
    lease_until  TEXT,
    last_error   TEXT,
    payload      TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, priority, run_at);
CREATE INDEX jobs_ref ON jobs(ref_id);

-- Per-tenant fixed rate windows; kept on disk so they survive a restart.
CREATE TABLE rate_windows (
    tenant_id    TEXT NOT NULL,
    window       TEXT NOT NULL,                -- minute | hour | day
    start        TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, window, start)
);

-- Final MIME kept by the built-in `outbox` provider for preview.
CREATE TABLE outbox (
    message_id  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    mime        BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX outbox_tenant ON outbox(tenant_id, created_at);
