-- 0018: stored, versioned templates (DESIGN §10.5). A template is its row plus
-- immutable versions; a PUT adds a version. Deleting a template removes its versions;
-- messages made from it keep their own copy of the sources (and its id, for reference).
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX templates_by_tenant ON templates (tenant_id, created_at, id);

CREATE TABLE template_versions (
    template_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    html_body TEXT NOT NULL,
    text_body TEXT,
    sample_variables TEXT NOT NULL,
    variables TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (template_id, version)
);

-- A version never changes once written.
CREATE TRIGGER template_versions_immutable BEFORE UPDATE ON template_versions
BEGIN
    SELECT RAISE(ABORT, 'template versions are immutable');
END;

ALTER TABLE messages ADD COLUMN template_id TEXT;
ALTER TABLE messages ADD COLUMN template_version INTEGER;
