"""The W3C trace context (`traceparent`) of the work in progress. Pure: a
contextvar that tracing (traces_otel.py) sets while a span is open and the store reads when
it writes a job, so the send of a message continues the trace of the request that accepted
it. None whenever tracing is off."""

import contextvars

current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)
