-- 0019: open and click tracking (DESIGN §10.5). `tracking` on a message holds the
-- bits decided at accept time (1 opens, 2 clicks). Each pixel fetch or click is one row of
-- `engagement`; `first` marks the first open of a message / the first click of one of its
-- links by a person (bot: NULL), `bot` names a machine that fetched it (domain/tracking.py).
ALTER TABLE messages ADD COLUMN tracking INTEGER NOT NULL DEFAULT 0;

CREATE TABLE engagement (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    user_agent TEXT NOT NULL,
    bot TEXT,
    first INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX engagement_by_message ON engagement (message_id, kind, url);
CREATE INDEX engagement_by_tenant ON engagement (tenant_id, created_at);
