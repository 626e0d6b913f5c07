-- Issue 12 (DESIGN §10.1): /ready proves a real commit. One row, rewritten by each probe with
-- a padding blob about the size of a message, so a store with no room for a message is not
-- reported ready.
CREATE TABLE ready_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TEXT NOT NULL,
    pad BLOB NOT NULL
);
