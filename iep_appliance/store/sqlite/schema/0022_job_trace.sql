-- 0022: the W3C trace context of the request that made a job (issue 18, DESIGN §10.5), so the
-- send's span continues the accept's trace. NULL while tracing is off.
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
