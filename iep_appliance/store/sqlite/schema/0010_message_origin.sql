-- 0010: how a message arrived (issue 15) and the raw MIME of a message submitted as MIME.

-- origin: api | smtp | resend | postmark. For SMTP, the client's address and AUTH user.
ALTER TABLE messages ADD COLUMN origin TEXT NOT NULL DEFAULT 'api';
ALTER TABLE messages ADD COLUMN origin_client TEXT;
ALTER TABLE messages ADD COLUMN origin_user TEXT;
-- kind: structured (subject/bodies rendered and built at send time) | raw_mime (the
-- client's MIME, sent as stored in message_raw).
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'structured';

-- The client's MIME of a raw_mime message, as it will be sent (Bcc and X-IEP-* headers
-- removed, Message-ID and Date added when missing). Written in the accepting transaction.
CREATE TABLE message_raw (
    message_id  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    mime        BLOB NOT NULL
);
