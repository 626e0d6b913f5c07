-- SQLite's 0023 and 0024: provider events (deduplicated per provider and event id), Mailgun
-- webhook tokens already used, tenant providers (credentials sealed under the master key).
CREATE TABLE provider_events (
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    type         TEXT NOT NULL,
    tenant_id    TEXT,
    message_id   TEXT,
    provider_message_id TEXT,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_message ON provider_events(message_id);
CREATE INDEX provider_events_received ON provider_events(received_at);

CREATE TABLE provider_webhook_tokens (
    provider     TEXT NOT NULL,
    token        TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    PRIMARY KEY (provider, token)
);
CREATE INDEX provider_webhook_tokens_seen ON provider_webhook_tokens(seen_at);

CREATE TABLE tenant_providers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    secret      BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
