-- Each process's provider breakers and newest failures, written with its heartbeat: breakers
-- are per process, so the dashboard (answered by any worker or node) merges every live row.
ALTER TABLE nodes ADD COLUMN providers TEXT NOT NULL DEFAULT '[]';
