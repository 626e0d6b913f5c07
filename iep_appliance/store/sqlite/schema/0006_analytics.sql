-- 0006: delivery analytics (issue 7). Hourly rollups kept at write time: every status change
-- of a message adds 1 to its row (hour, queue, category, tag '', status) and to one row per
-- distinct tag of the message. Queries without a tag read only tag '' rows, so a message
-- with several tags is never counted twice; a tag filter reads that tag's rows.
-- status: queued | scheduled (accepted) · sent | failed | bounced (final) · retried (an
-- automatic retry scheduled, or POST …/retry) · cancelled.
-- hour: 'YYYY-MM-DDTHH:00:00.000Z'; category: '' when none.

CREATE TABLE stats_hourly (
    tenant_id  TEXT NOT NULL,
    hour       TEXT NOT NULL,
    queue      TEXT NOT NULL,
    category   TEXT NOT NULL,
    tag        TEXT NOT NULL,
    status     TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, tag, hour, queue, category, status)
) WITHOUT ROWID;

-- Backfill what a database made before this migration already holds: each message's accept
-- (its creation hour), its final status (hour of sent_at, else of its last update) and its
-- retries (from retry_scheduled events and manual-retry `queued` events).
CREATE TEMP TABLE stats_backfill AS
    SELECT tenant_id, substr(created_at, 1, 13) || ':00:00.000Z' AS hour, queue,
           coalesce(category, '') AS category, id AS message_id, metadata,
           CASE WHEN scheduled_at IS NOT NULL THEN 'scheduled' ELSE 'queued' END AS status,
           0 AS seq
    FROM messages
    UNION ALL
    SELECT tenant_id, substr(coalesce(sent_at, updated_at), 1, 13) || ':00:00.000Z', queue,
           coalesce(category, ''), id, metadata, status, 0
    FROM messages WHERE status IN ('sent', 'failed', 'bounced', 'cancelled')
    UNION ALL
    SELECT m.tenant_id, substr(e.created_at, 1, 13) || ':00:00.000Z', m.queue,
           coalesce(m.category, ''), m.id, m.metadata, 'retried', e.id
    FROM events e JOIN messages m ON m.id = e.message_id
    WHERE e.type = 'retry_scheduled'
       OR (e.type = 'queued' AND json_extract(e.payload, '$.retry') = 1);

INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)
    SELECT tenant_id, hour, queue, category, '', status, count(*)
    FROM stats_backfill GROUP BY tenant_id, hour, queue, category, status;

INSERT INTO stats_hourly (tenant_id, hour, queue, category, tag, status, count)
    SELECT tenant_id, hour, queue, category, tag, status, count(*)
    FROM (SELECT DISTINCT b.tenant_id, b.hour, b.queue, b.category, b.message_id, b.status,
                 b.seq, t.value AS tag
          FROM stats_backfill b, json_each(b.metadata, '$.tags') t
          WHERE json_type(b.metadata, '$.tags') = 'array' AND t.type = 'text' AND t.value != '')
    GROUP BY tenant_id, hour, queue, category, tag, status;

DROP TABLE stats_backfill;
