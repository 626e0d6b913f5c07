-- SQLite's 0028: each process's provider breakers and newest failures, with its heartbeat.
ALTER TABLE nodes ADD COLUMN providers TEXT NOT NULL DEFAULT '[]';
