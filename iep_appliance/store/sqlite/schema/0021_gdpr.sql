-- 0021: GDPR requests (issue 18, DESIGN §10.5). A request names its address only by hash
-- (`sha256:…` of tenant id and address), so the record of an erase does not keep what it
-- erased; `counts` is a JSON object of rows removed per table.
CREATE TABLE gdpr_requests (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL,                 -- erase
    email_hash   TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending', -- pending | done | failed
    counts       TEXT NOT NULL DEFAULT '{}',
    error        TEXT,
    requested_at TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX gdpr_requests_tenant ON gdpr_requests(tenant_id, requested_at);
