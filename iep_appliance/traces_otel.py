"""Tracing that is on: the OpenTelemetry SDK with a batch OTLP/HTTP exporter.
Imported only by `traces.configure()` with an endpoint. While a span is open its trace id is
in the log lines (`logs.trace_id_var` → `traceId`) and its traceparent in
`domain.trace_context` (stored with a job the accept writes)."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from iep_appliance.domain.trace_context import current_traceparent
from iep_appliance.logs import trace_id_var
from iep_appliance.traces_off import Tracing

_KINDS = {
    "internal": trace.SpanKind.INTERNAL,
    "server": trace.SpanKind.SERVER,
    "client": trace.SpanKind.CLIENT,
}
_propagator = TraceContextTextMapPropagator()
EXPORT_DELAY_MS = 500  # how long spans wait in the batch before they are sent


class OtelTracing(Tracing):
    enabled = True

    def __init__(self, endpoint: str, service_name: str) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=5)
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS)
        )
        self.tracer = self.provider.get_tracer("iep")

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        parent: str | None = None,
        kind: str = "internal",
    ) -> Iterator[Any]:
        context = _propagator.extract({"traceparent": parent}) if parent else None
        with self.tracer.start_as_current_span(
            name, context=context, kind=_KINDS.get(kind, trace.SpanKind.INTERNAL)
        ) as span:
            if attributes:
                span.set_attributes({k: v for k, v in attributes.items() if v is not None})
            carrier: dict[str, str] = {}
            _propagator.inject(carrier)
            ctx = span.get_span_context()
            trace_token = trace_id_var.set(format(ctx.trace_id, "032x"))
            parent_token = current_traceparent.set(carrier.get("traceparent"))
            try:
                yield span
            finally:
                current_traceparent.reset(parent_token)
                trace_id_var.reset(trace_token)

    def asgi(self, app: Any) -> Any:
        tracing = self

        async def traced(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            headers = dict(scope.get("headers") or [])
            incoming = headers.get(b"traceparent")
            status = [0]

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            name = f"HTTP {scope['method']}"
            with tracing.span(
                name,
                {"http.request.method": scope["method"]},  # no path: it may hold an address
                parent=incoming.decode("latin-1") if incoming else None,
                kind="server",
            ) as span:
                await app(scope, receive, send_status)
                span.set_attribute("http.response.status_code", status[0])
                route = scope.get("path_template") or (
                    scope["path"] if scope["path"] == "/v1/messages" else None  # the fast path
                )
                if route:
                    span.update_name(f"HTTP {scope['method']} {route}")
                    span.set_attribute("http.route", route)

        return traced

    def shutdown(self) -> None:
        self.provider.shutdown()
