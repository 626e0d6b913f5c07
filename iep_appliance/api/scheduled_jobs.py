"""/v1/scheduled-jobs (admin): recurring sends. Thin: every rule lives in
services/scheduled_jobs.py and domain/schedules.py; the ticker runs the ticks."""

from typing import Annotated, Any

import msgspec
from litestar.params import FromPath, JSONBody

from iep_appliance.api.fields import CreatedAt, ItsId, UpdatedAt
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.schedules import (
    ScheduledJob,
    ScheduledJobIn,
    ScheduledJobPatch,
    ScheduledRun,
)
from iep_appliance.services.scheduled_jobs import ScheduledJobService

routes = Routes(tag="scheduled-jobs", scope="admin")


class ScheduledJobView(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    id: ItsId
    name: Annotated[str, msgspec.Meta(description="Its name.")]
    cron: Annotated[str, msgspec.Meta(description="Five-field cron expression of when it runs.")]
    timezone: Annotated[
        str, msgspec.Meta(description="IANA time zone the cron expression is read in.")
    ]
    active: Annotated[bool, msgspec.Meta(description="Whether it runs.")]
    last_run_at: Annotated[
        str | None, msgspec.Meta(description="When it last ran (ISO 8601); null = never.")
    ]
    next_run_at: Annotated[
        str | None, msgspec.Meta(description="When it runs next (ISO 8601); null when paused.")
    ]
    created_at: CreatedAt
    updated_at: UpdatedAt
    message: Annotated[
        dict[str, Any] | msgspec.UnsetType,
        msgspec.Meta(description="The send body of each run; null for a batch job."),
    ] = msgspec.UNSET
    batch: Annotated[
        dict[str, Any] | msgspec.UnsetType,
        msgspec.Meta(description="The batch body of each run; null for a message job."),
    ] = msgspec.UNSET


class ScheduledJobList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[ScheduledJobView]
    next_cursor: NextCursor


class RunView(msgspec.Struct, frozen=True, rename="camel"):
    scheduled_job_id: Annotated[str, msgspec.Meta(description="The scheduled job that ran.")]
    tick: Annotated[str, msgspec.Meta(description="The schedule time this run is for (ISO 8601).")]
    created_at: Annotated[str, msgspec.Meta(description="When the run happened (ISO 8601).")]
    message_id: Annotated[
        str | None,
        msgspec.Meta(description="The message it sent; null for a batch or a failed run."),
    ]
    batch_id: Annotated[
        str | None,
        msgspec.Meta(description="The batch it sent; null for a message or a failed run."),
    ]
    count: Annotated[int, msgspec.Meta(description="Messages the run submitted.")]
    error: Annotated[
        str | None, msgspec.Meta(description="Why the run failed; null when it did not.")
    ]


class RunList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[RunView]
    next_cursor: NextCursor


def view(j: ScheduledJob) -> ScheduledJobView:
    return ScheduledJobView(
        id=j.id,
        name=j.name,
        cron=j.cron,
        timezone=j.timezone,
        active=j.active,
        last_run_at=j.last_run_at,
        next_run_at=j.next_run_at,
        created_at=j.created_at,
        updated_at=j.updated_at,
        message=j.payload if j.kind == "message" else msgspec.UNSET,
        batch=j.payload if j.kind == "batch" else msgspec.UNSET,
    )


def run_view(r: ScheduledRun) -> RunView:
    return RunView(
        scheduled_job_id=r.scheduled_job_id,
        tick=r.tick,
        created_at=r.created_at,
        message_id=r.message_id,
        batch_id=r.batch_id,
        count=r.count,
        error=r.error,
    )


@routes.post(
    "/v1/scheduled-jobs",
    status_code=201,
    summary="Create a recurring send (cron + IANA timezone + a message or batch payload)",
    description="`cron` has 5 fields; `timezone` is an IANA name (default UTC) and ticks are "
    "DST-correct; the payload is validated like a real send. After downtime only the latest "
    "missed tick runs.",
)
async def create_scheduled_job(
    scheduled_jobs: Injected[ScheduledJobService], principal: Caller, data: JSONBody[ScheduledJobIn]
) -> ScheduledJobView:
    return view(await scheduled_jobs.create(principal, data))


@routes.get("/v1/scheduled-jobs", summary="List recurring sends, oldest first")
async def list_scheduled_jobs(
    scheduled_jobs: Injected[ScheduledJobService],
    principal: Caller,
    page: Paging,
) -> ScheduledJobList:
    items, nxt = await scheduled_jobs.list_jobs(principal.tenant_id, page.limit, page.cursor)
    return ScheduledJobList(data=[view(j) for j in items], next_cursor=nxt)


@routes.get("/v1/scheduled-jobs/{job_id:str}", summary="One recurring send")
async def get_scheduled_job(
    scheduled_jobs: Injected[ScheduledJobService], principal: Caller, job_id: FromPath[str]
) -> ScheduledJobView:
    return view(await scheduled_jobs.get(principal.tenant_id, job_id))


@routes.patch(
    "/v1/scheduled-jobs/{job_id:str}",
    status_code=200,
    summary="Update a recurring send (any subset of its fields)",
    description="A new cron or timezone, or resuming (`active: true`), schedules from now: "
    "nothing is caught up.",
)
async def update_scheduled_job(
    scheduled_jobs: Injected[ScheduledJobService],
    principal: Caller,
    job_id: FromPath[str],
    data: JSONBody[ScheduledJobPatch],
) -> ScheduledJobView:
    return view(await scheduled_jobs.update(principal, job_id, data))


@routes.delete(
    "/v1/scheduled-jobs/{job_id:str}",
    status_code=204,
    summary="Delete a recurring send (messages it created stay)",
)
async def delete_scheduled_job(
    scheduled_jobs: Injected[ScheduledJobService], principal: Caller, job_id: FromPath[str]
) -> None:
    await scheduled_jobs.delete(principal.tenant_id, job_id)


@routes.post(
    "/v1/scheduled-jobs/{job_id:str}/run",
    status_code=202,
    summary="Run a recurring send once, now (its schedule does not move)",
)
async def run_scheduled_job(
    scheduled_jobs: Injected[ScheduledJobService], principal: Caller, job_id: FromPath[str]
) -> RunView:
    return run_view(await scheduled_jobs.run_now(principal.tenant_id, job_id))


@routes.get(
    "/v1/scheduled-jobs/{job_id:str}/runs", summary="Runs of a recurring send, newest first"
)
async def list_scheduled_job_runs(
    scheduled_jobs: Injected[ScheduledJobService],
    principal: Caller,
    job_id: FromPath[str],
    page: Paging,
) -> RunList:
    items, nxt = await scheduled_jobs.runs(principal.tenant_id, job_id, page.limit, page.cursor)
    return RunList(data=[run_view(r) for r in items], next_cursor=nxt)


HANDLERS = [
    create_scheduled_job,
    list_scheduled_jobs,
    get_scheduled_job,
    update_scheduled_job,
    delete_scheduled_job,
    run_scheduled_job,
    list_scheduled_job_runs,
]
