-- 0002: a webhook attempt remembers the job that carried its event, so one delivery can be
-- re-sent later with the same event and the same `webhook-id`.
ALTER TABLE webhook_deliveries ADD COLUMN job_id INTEGER;
