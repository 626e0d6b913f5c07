-- 0023: provider events (issue 17): what SES (SNS), SendGrid and Mailgun reported, each kept
-- once per (provider, event id) so a replayed or re-sent event changes nothing twice, and the
-- Mailgun webhook tokens already used (a token seen again is a replay and is refused).
CREATE TABLE provider_events (
    provider     TEXT NOT NULL,        -- the provider's name ([providers.NAME] or tenant's)
    event_id     TEXT NOT NULL,        -- SNS MessageId, sg_event_id, Mailgun event-data id
    type         TEXT NOT NULL,        -- delivered | bounced | complained | opened | clicked | other
    tenant_id    TEXT,                 -- NULL: matched to no message (kept all the same)
    message_id   TEXT,
    provider_message_id TEXT,
    payload      TEXT NOT NULL,        -- the event as received (JSON), bounded
    received_at  TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_message ON provider_events(message_id);
CREATE INDEX provider_events_received ON provider_events(received_at);

CREATE TABLE provider_webhook_tokens (
    provider     TEXT NOT NULL,
    token        TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    PRIMARY KEY (provider, token)
);
CREATE INDEX provider_webhook_tokens_seen ON provider_webhook_tokens(seen_at);
