-- 0016: deliverability (issue 16): DKIM keys, DNS checks of sender domains, inbound mail
-- (bounces, complaints, unsubscribes) and what it changed.

-- One row per (domain, selector); a domain shared by several tenants has one set of keys,
-- as it has one DNS zone. state: 'active' signs; 'next' was made by a rotation and waits for
-- its TXT record to appear in DNS; 'retired' signed before and stays published a while.
CREATE TABLE dkim_keys (
    domain        TEXT NOT NULL,
    selector      TEXT NOT NULL,
    algorithm     TEXT NOT NULL,       -- 'rsa' | 'ed25519'
    private_key   BLOB NOT NULL,       -- PKCS#8 PEM sealed with AES-256-GCM (master key)
    public_key    TEXT NOT NULL,       -- the p= value
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    activated_at  TEXT,
    PRIMARY KEY (domain, selector)
);
CREATE INDEX dkim_keys_state ON dkim_keys(state);

-- The last DNS check of a domain: status 'pending' | 'verified' | 'failed', per-record
-- results as JSON, and why the last check could not conclude (timeout, SERVFAIL).
CREATE TABLE domain_checks (
    domain           TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    records          TEXT NOT NULL DEFAULT '[]',
    reason           TEXT,
    verified_at      TEXT,
    last_checked_at  TEXT
);

-- Every mail the inbound listener accepted (bounded copy), matched to a message when it could.
CREATE TABLE inbound_mail (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT,
    message_id   TEXT,
    kind         TEXT NOT NULL,        -- 'bounce' | 'complaint' | 'unsubscribe' | 'unmatched'
    mail_from    TEXT NOT NULL,
    rcpt_to      TEXT NOT NULL,
    size         INTEGER NOT NULL,     -- bytes received
    raw          BLOB NOT NULL,        -- the first [inbound] max_stored_bytes of it
    summary      TEXT NOT NULL DEFAULT '{}',
    received_at  TEXT NOT NULL
);
CREATE INDEX inbound_mail_message ON inbound_mail(message_id);
CREATE INDEX inbound_mail_received ON inbound_mail(received_at);

-- One effect per (message, recipient, kind): a replayed report changes nothing twice.
CREATE TABLE inbound_effects (
    tenant_id    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    kind         TEXT NOT NULL,        -- 'hard' | 'soft' | 'policy' | 'complaint' | 'unsubscribe'
    created_at   TEXT NOT NULL,
    PRIMARY KEY (message_id, recipient, kind)
);
CREATE INDEX inbound_effects_tenant ON inbound_effects(tenant_id, created_at);
