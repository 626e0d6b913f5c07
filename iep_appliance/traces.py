"""OpenTelemetry traces, off by default and free when off (DESIGN §10.5).

`current()` is the process's tracing: a `Tracing` whose `span()` returns one shared no-op
context manager, until the runtime calls `configure()` with a `[telemetry] otlp_endpoint`;
only then is the SDK imported (traces_otel.py), so with tracing off no OpenTelemetry module
is even loaded. Spans (names are a contract for dashboards built on them):

    HTTP <METHOD> <route>   every request (traces_otel.asgi_middleware; honours traceparent)
    store.commit            the accept's durable write
    jobs.claim              one claim of due jobs
    message.send            one attempt, child of the accept's span (the job's traceparent)
    render                  templates and MIME of the attempt
    provider.send           the provider transaction
    webhook.deliver         one webhook POST (child of the send that enqueued it)

Usage (identical on or off):

    with traces.current().span("render", {"messageId": m.id}):
        ...
"""

from iep_appliance.traces_off import NO_SPAN, Tracing

__all__ = ["NO_SPAN", "Tracing", "configure", "current"]

_current: Tracing = Tracing()


def current() -> Tracing:
    return _current


def configure(endpoint: str, service_name: str) -> Tracing:
    """Turn tracing on (an OTLP/HTTP endpoint) or off (empty); returns the new tracing."""
    global _current
    _current.shutdown()
    if not endpoint:
        _current = Tracing()
    else:
        from iep_appliance.traces_otel import OtelTracing  # the SDK loads only here

        _current = OtelTracing(endpoint, service_name)
    return _current
