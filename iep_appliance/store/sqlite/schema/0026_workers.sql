-- Issue 19: worker processes (and, later, nodes) sharing one store.
-- Which worker holds a lease: a restarted worker releases only its own; NULL = a lease taken
-- before this migration or by a single-process server (released by the first worker).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
-- The change feed: every worker appends what it changed (a key revoked, a tenant's rules, a
-- queue), every worker polls for rows after the last one it saw and drops those caches.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    at TEXT NOT NULL
);
