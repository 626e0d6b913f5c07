-- 0017: reputation hold (issue 16, DESIGN §10.3). A tenant over a pause threshold has its
-- sending held from held_at until an operator resumes it; resumed_at starts a new count, so
-- the same old bounces do not pause it again at once.
ALTER TABLE tenants ADD COLUMN reputation_held_at TEXT;
ALTER TABLE tenants ADD COLUMN reputation_resumed_at TEXT;

-- One-click unsubscribe headers on a message (the send's `unsubscribe`, else the tenant's
-- default, decided when it is accepted).
ALTER TABLE messages ADD COLUMN unsubscribe INTEGER NOT NULL DEFAULT 0;
