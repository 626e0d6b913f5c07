"""Tracing that is off: the base `traces.configure` returns when no endpoint is set, and the
class `traces_otel.OtelTracing` (tracing that is on) extends."""

from collections.abc import Mapping
from typing import Any


class _NoSpan:
    """The span of tracing that is off: entering, leaving and attributes cost nothing."""

    __slots__ = ()

    def __enter__(self) -> "_NoSpan":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None


NO_SPAN = _NoSpan()


class Tracing:
    """Tracing that is off."""

    enabled = False

    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        parent: str | None = None,
        kind: str = "internal",
    ) -> Any:
        """A span named `name`, child of the current one (or of the W3C `parent` traceparent
        when given). Use as a context manager."""
        return NO_SPAN

    def asgi(self, app: Any) -> Any:
        """`app` wrapped in a server span per HTTP request (unchanged when off)."""
        return app

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
