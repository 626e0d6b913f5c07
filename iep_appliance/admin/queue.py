"""/admin/queue: send jobs by state, the age of the oldest due job, the DLQ (dead jobs with
their message: retry or discard, one or the selected ones) and the jobs waiting for a later
time (scheduled, or retrying) with their next attempt times."""

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.response import Redirect, Response, Template

from iep_appliance.admin.auth import actions, dashboard
from iep_appliance.admin.templates import page
from iep_appliance.services.dashboard_actions import BulkResult, parse_job_ids


@get("/queue")
async def show(request: Request[Any, Any, Any]) -> Template:
    service = dashboard(request)
    params = request.query_params
    view = await service.queue(params.get("cursor"), params.get("waiting"))
    partial = "_waiting_rows" if params.get("waiting") else "_dead_rows"
    return page(
        request,
        "queue",
        partial=partial,
        active="Queue",
        view=view,
        more=f"/admin/queue?cursor={view.next_cursor}" if view.next_cursor else None,
        more_waiting=f"/admin/queue?waiting={view.waiting_cursor}" if view.waiting_cursor else None,
        slugs=await service.tenant_slugs(),
        notice=params.get("notice", ""),
        done=params.get("done", ""),
        refused=params.get("refused", ""),
    )


def _back(action: str, result: BulkResult) -> Redirect:
    query = urlencode({"notice": action, "done": result.done, "refused": len(result.refused)})
    return Redirect(path=f"/admin/queue?{query}", status_code=303)


async def _job_ids(request: Request[Any, Any, Any]) -> list[int]:
    form = await request.form()
    return parse_job_ids([v for v in form.getall("job", []) if isinstance(v, str)])


@post("/queue/retry", status_code=303)
async def retry_jobs(request: Request[Any, Any, Any]) -> Response[Any]:
    """Dead jobs (checkboxes or a row's button, named `job`) get another set of attempts."""
    return _back("retried", await actions(request).retry_jobs(await _job_ids(request)))


@post("/queue/discard", status_code=303)
async def discard_jobs(request: Request[Any, Any, Any]) -> Response[Any]:
    """Dead jobs leave the DLQ for good; a send job's message stays failed."""
    return _back("discarded", await actions(request).discard_jobs(await _job_ids(request)))
