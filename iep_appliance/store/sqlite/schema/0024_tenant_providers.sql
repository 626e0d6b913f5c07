-- 0024: tenant providers (issue 17): a tenant's own SMTP relay or SES/SendGrid/Mailgun account.
-- settings: the non-secret settings (JSON); secret: the credentials as JSON, sealed with
-- AES-256-GCM under the master key (context "provider:<tenant>:<id>"), never shown again.
CREATE TABLE tenant_providers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,        -- 'smtp' | 'ses' | 'sendgrid' | 'mailgun'
    settings    TEXT NOT NULL DEFAULT '{}',
    secret      BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
