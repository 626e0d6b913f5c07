-- The processes serving from this store (nodes, and their workers): each writes its row every
-- few seconds, so the dashboard shows which are alive and when each was last heard from.
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    backend TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
