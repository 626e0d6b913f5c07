"""/admin/queue: jobs by state, the age of the oldest due job, and the DLQ (dead jobs with
their message) with Retry for failed messages (the retry form posts to messages.py)."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from iep_appliance.admin.auth import dashboard
from iep_appliance.admin.templates import page


@get("/queue")
async def show(request: Request[Any, Any, Any]) -> Template:
    service = dashboard(request)
    view = await service.queue(request.query_params.get("cursor"))
    return page(
        request,
        "queue",
        partial="_dead_rows",
        active="Queue",
        view=view,
        more=f"/admin/queue?cursor={view.next_cursor}" if view.next_cursor else None,
        slugs=await service.tenant_slugs(),
    )
