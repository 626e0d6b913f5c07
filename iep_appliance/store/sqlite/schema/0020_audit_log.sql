-- 0020: the audit log and per-key IP allowlists (issue 18, DESIGN §10.5).
-- An API key may be limited to client addresses (JSON list of CIDRs; [] = anywhere).
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '[]';

-- One row per mutation through the API, the dashboard or the CLI. tenant_id is NULL for an
-- appliance-wide change (an operator account, a login). Append-only: the triggers below
-- refuse every UPDATE, and every DELETE except the retention purge's.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    at          TEXT NOT NULL,
    tenant_id   TEXT,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_name  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT,
    ip          TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant_at ON audit_log(tenant_id, at, seq);
CREATE INDEX audit_log_at ON audit_log(at, seq);

-- The purge gate: one row; `purge_before` is NULL except inside the retention purge's own
-- transaction, which opens it to its cutoff, deletes, and closes it again.
CREATE TABLE audit_purge_gate (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    purge_before TEXT
);
INSERT INTO audit_purge_gate (id, purge_before) VALUES (1, NULL);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT purge_before FROM audit_purge_gate WHERE id = 1) IS NULL
  OR OLD.at >= (SELECT purge_before FROM audit_purge_gate WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (only entries past retention are purged)');
END;
