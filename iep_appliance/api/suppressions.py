"""/v1/suppressions (admin): list with cursor and substring search, add, remove.

Thin: validation and case-insensitive comparison live in services/suppressions.py.
"""

from typing import Annotated

import msgspec
from litestar.params import FromPath, FromQuery, JSONBody

from iep_appliance.api.fields import CreatedAt
from iep_appliance.api.inject import Injected
from iep_appliance.api.pages import NextCursor, PageItems, Paging
from iep_appliance.api.routes import Caller, Routes
from iep_appliance.domain.models import Suppression
from iep_appliance.services.suppressions import SuppressionService

routes = Routes(tag="suppressions", scope="admin")


class SuppressionView(msgspec.Struct, frozen=True, rename="camel"):
    email: Annotated[str, msgspec.Meta(description="The suppressed address.")]
    reason: Annotated[
        str, msgspec.Meta(description="Why: `manual`, `bounce`, `complaint` or `unsubscribe`.")
    ]
    source_message_id: Annotated[
        str | None, msgspec.Meta(description="The message that caused it; null when added by hand.")
    ]
    created_at: CreatedAt


class SuppressionList(msgspec.Struct, frozen=True, rename="camel"):
    data: PageItems[SuppressionView]
    next_cursor: NextCursor


class SuppressionsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    emails: Annotated[list[str], msgspec.Meta(description="Addresses to suppress.")]
    reason: Annotated[str, msgspec.Meta(description="Why they are suppressed.")] = "manual"


class SuppressionsAdded(msgspec.Struct, frozen=True):
    data: Annotated[
        list[SuppressionView],
        msgspec.Meta(description="The suppressions added or already present."),
    ]


def view(s: Suppression) -> SuppressionView:
    return SuppressionView(
        email=s.email,
        reason=s.reason,
        source_message_id=s.source_message_id,
        created_at=s.created_at,
    )


@routes.get(
    "/v1/suppressions",
    summary="List suppressed addresses (address order, `search` substring, cursor)",
)
async def list_suppressions(
    suppressions: Injected[SuppressionService],
    principal: Caller,
    search: FromQuery[str | None] = None,
    *,
    page: Paging,  # keyword-only: it follows a parameter with a default
) -> SuppressionList:
    items, nxt = await suppressions.list_page(principal.tenant_id, search, page.limit, page.cursor)
    return SuppressionList(data=[view(s) for s in items], next_cursor=nxt)


@routes.post(
    "/v1/suppressions",
    status_code=201,
    summary="Suppress one or many addresses",
    description="Existing entries are kept as they are (an automatic one keeps its source).",
)
async def add_suppressions(
    suppressions: Injected[SuppressionService], principal: Caller, data: JSONBody[SuppressionsIn]
) -> SuppressionsAdded:
    added = await suppressions.add(principal.tenant_id, data.emails, data.reason)
    return SuppressionsAdded(data=[view(s) for s in added])


@routes.delete(
    "/v1/suppressions/{email:str}", status_code=204, summary="Un-suppress an address (URL-encoded)"
)
async def remove_suppression(
    suppressions: Injected[SuppressionService], principal: Caller, email: FromPath[str]
) -> None:
    await suppressions.remove(principal.tenant_id, email)


HANDLERS = [list_suppressions, add_suppressions, remove_suppression]
