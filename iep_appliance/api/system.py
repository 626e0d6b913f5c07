"""/health, /ready (a real write probe), /metrics."""

from typing import Any

from litestar import Response, get

from iep_appliance import __version__
from iep_appliance.api.inject import Injected
from iep_appliance.services.system import Health


@get("/health", summary="Liveness", tags=["system"])
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@get("/ready", summary="Readiness: store writable, providers configured", tags=["system"])
async def ready(health: Injected[Health]) -> Response[dict[str, Any]]:
    report = await health.readiness()
    return Response(report, status_code=200 if report["status"] == "ready" else 503)


@get("/metrics", summary="Prometheus metrics", tags=["system"], media_type="text/plain")
async def metrics(health: Injected[Health]) -> Response[bytes]:
    return Response(
        await health.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


HANDLERS = [health, ready, metrics]
