"""The named queues and recurring jobs cards of a tenant's page: pause, resume or drain a
queue (QueueService.set_state, as /v1/queues/{id}/pause|resume|drain), and pause, resume or
delete a recurring job (ScheduledJobService, as PATCH and DELETE /v1/scheduled-jobs/{id})."""

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.admin.context import services
from iep_appliance.admin.tenant_page import act, operators, refused, respond
from iep_appliance.domain.errors import Conflict, IEPError, NotFound
from iep_appliance.domain.models import Principal
from iep_appliance.domain.schedules import ScheduledJobPatch

# action in the URL -> the queue's new state
QUEUE_STATES = {"pause": "paused", "resume": "active", "drain": "draining"}


@post("/tenants/{tenant_id:str}/queues/{queue_id:str}/{action:str}", status_code=200)
async def queue_action(
    request: Request[Any, Any, Any],
    tenant_id: FromPath[str],
    queue_id: FromPath[str],
    action: FromPath[str],
) -> Response[Any]:
    state = QUEUE_STATES.get(action)
    if state is None:
        raise NotFound(f"No queue action {action!r}")
    set_state = services(request).queues.set_state
    return await act(
        request, tenant_id, "queues", lambda: set_state(tenant_id, queue_id, state),
        f"queue-{state}", (NotFound, Conflict),
    )  # fmt: skip


def _operator(tenant_id: str, sandbox: bool, email: str) -> Principal:
    """Who changes a tenant's job from the dashboard: the tenant, as the job's own key would."""
    return Principal(
        tenant_id=tenant_id,
        key_id=f"dashboard:{email}",
        scopes=frozenset({"admin"}),
        sandbox=sandbox,
    )


async def _set_job_active(
    request: Request[Any, Any, Any], tenant_id: str, job_id: str, active: bool
) -> Response[Any]:
    await operators(request).tenant(tenant_id)
    service = services(request).scheduled_jobs
    try:
        job = await service.get(tenant_id, job_id)
        email = request.state["admin_session"].email
        await service.update(
            _operator(tenant_id, job.sandbox, email), job_id, ScheduledJobPatch(active=active)
        )
    except IEPError as exc:  # the payload is validated again, against today's rules
        return await refused(request, tenant_id, "jobs", exc)
    return await respond(request, tenant_id, "jobs", "job-resumed" if active else "job-paused")


@post("/tenants/{tenant_id:str}/jobs/{job_id:str}/pause", status_code=200)
async def pause_job(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], job_id: FromPath[str]
) -> Response[Any]:
    return await _set_job_active(request, tenant_id, job_id, False)


@post("/tenants/{tenant_id:str}/jobs/{job_id:str}/resume", status_code=200)
async def resume_job(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], job_id: FromPath[str]
) -> Response[Any]:
    return await _set_job_active(request, tenant_id, job_id, True)


@post("/tenants/{tenant_id:str}/jobs/{job_id:str}/delete", status_code=200)
async def delete_job(
    request: Request[Any, Any, Any], tenant_id: FromPath[str], job_id: FromPath[str]
) -> Response[Any]:
    delete = services(request).scheduled_jobs.delete
    return await act(request, tenant_id, "jobs", lambda: delete(tenant_id, job_id), "job-deleted")
