-- 0011: a webhook endpoint's format: 'iep' (IEP's body and webhook-* headers) or 'resend'
-- (Resend's event payloads, signed with svix-* headers as well), DESIGN §10.2.
ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'iep';
