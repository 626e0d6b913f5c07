"""/admin/connect: "SMTP & compatible APIs", the settings a product needs to move to IEP by
changing a host name (issue 15): the SMTP submission host, ports and credentials, and the
one SDK line to change for Resend and Postmark. Read-only; it shows no secret."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.templates import page
from iep_appliance.runtime import Runtime


@get("/connect")
async def show(request: Request[Any, Any, Any]) -> Template:
    rt: Runtime = request.app.state.runtime
    sub = rt.config.submission
    base = str(request.base_url).rstrip("/")
    host = request.url.hostname or rt.config.server.host
    return page(
        request,
        "connect",
        active="SMTP & APIs",
        enabled=sub.enabled,
        smtp_host=sub.host if sub.host not in ("0.0.0.0", "::") else host,
        smtp_port=sub.port,
        tls_port=sub.tls_port,
        starttls=bool(sub.tls_cert),
        max_bytes=sub.max_message_bytes,
        base_url=base,
    )
