"""/health, /ready (a real write probe), /metrics."""

from litestar import Request, Response, get

from iep_appliance import __version__


@get("/health", summary="Liveness", tags=["system"])
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@get("/ready", summary="Readiness: store writable, providers configured", tags=["system"])
async def ready(request: Request) -> Response[dict]:
    report = await request.app.state.runtime.readiness()
    return Response(report, status_code=200 if report["status"] == "ready" else 503)


@get("/metrics", summary="Prometheus metrics", tags=["system"], media_type="text/plain")
async def metrics(request: Request) -> Response[bytes]:
    rt = request.app.state.runtime
    await rt.refresh_gauges()
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


HANDLERS = [health, ready, metrics]
