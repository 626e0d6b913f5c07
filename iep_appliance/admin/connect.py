"""/admin/connect: "SMTP & compatible APIs", the settings a product needs to move to IEP by
changing a host name: the SMTP submission host, ports and credentials, and the
one SDK line to change for Resend and Postmark. Read-only; it shows no secret."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.context import services
from iep_appliance.admin.templates import page


@get("/connect")
async def show(request: Request[Any, Any, Any]) -> Template:
    sub = services(request).connect
    base = str(request.base_url).rstrip("/")
    host = request.url.hostname or sub.server_host
    return page(
        request,
        "connect",
        active="SMTP & APIs",
        enabled=sub.enabled,
        smtp_host=sub.host if sub.host not in ("0.0.0.0", "::") else host,
        smtp_port=sub.port,
        tls_port=sub.tls_port,
        starttls=sub.starttls,
        max_bytes=sub.max_message_bytes,
        base_url=base,
    )
