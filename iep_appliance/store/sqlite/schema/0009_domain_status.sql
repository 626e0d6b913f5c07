-- 0009: sender domain status (issue 12, DESIGN §4.1): a domain a tenant adds through the API
-- is 'pending' until verified (§10.3); one the operator assigns is 'verified' at once.
-- Every domain listed before this migration was assigned by an operator (or the first start),
-- so it stays usable.
ALTER TABLE allowed_sender_domains ADD COLUMN status TEXT NOT NULL DEFAULT 'verified';
UPDATE allowed_sender_domains SET verified = 1;
-- Who else lists a domain (POST /v1/domains refuses another tenant's with 409).
CREATE INDEX allowed_sender_domains_domain ON allowed_sender_domains(domain);

-- Display names of recipients and Reply-To ({lower-cased address: name}), for the MIME
-- headers; the address lists themselves stay plain addresses.
ALTER TABLE messages ADD COLUMN display_names TEXT NOT NULL DEFAULT '{}';
