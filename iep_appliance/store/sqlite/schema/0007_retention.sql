-- 0007: retention (issue 9). The purge walks attachments by upload time (keyset on
-- created_at, id), asks whether any other row still refers to a blob file (a batch's shared
-- attachment is one file for many rows), and finds a message's webhook attempts.
CREATE INDEX attachments_created ON attachments(created_at, id);
CREATE INDEX attachments_storage_key ON attachments(storage_key);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries(message_id)
    WHERE message_id IS NOT NULL;
