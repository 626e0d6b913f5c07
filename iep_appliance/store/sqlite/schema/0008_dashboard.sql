-- 0008: the operator dashboard (issue 8).

-- Messages of every tenant, newest first, paged by (created_at, id): the message list
-- without a tenant filter, and with a status filter, reads an index instead of sorting.
CREATE INDEX messages_created ON messages(created_at, id);
CREATE INDEX messages_status_created ON messages(status, created_at, id);

-- Operator sessions, so a restart does not sign operators out. Only a SHA-256 of the
-- session id is kept: a copy of the database does not hold a usable session.
CREATE TABLE admin_sessions (
    id_hash     TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions(expires_at);

-- The outbox of every tenant, newest first (the outbox page's keyset).
CREATE INDEX outbox_created ON outbox(created_at, message_id);
