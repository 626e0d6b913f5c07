"""The two fields of a page of a /v1 list (`{data, nextCursor}`), described once:

    class QueueList(msgspec.Struct, frozen=True, rename="camel"):
        data: PageItems[QueueView]
        next_cursor: NextCursor

`PageItems[X]` is `Annotated[list[X], Meta(...)]`, so the OpenAPI document is as if written
out in each struct. A list handler takes its `?limit=&cursor=` as `page: Paging` (the query
parameters are listed where `page` stands in its signature); a route with
`dependencies={"page": BOUNDED_PAGING}` refuses a `limit` outside 1 to 200 (422 naming it)."""

from typing import Annotated, NamedTuple, TypeAlias, TypeVar

import msgspec
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

T = TypeVar("T")


class PageRequest(NamedTuple):
    limit: int
    cursor: str | None


def page_request(limit: FromQuery[int] = 50, cursor: FromQuery[str | None] = None) -> PageRequest:
    return PageRequest(limit, cursor)


Paging: TypeAlias = NamedDependency[PageRequest]
"""The `page` a /v1 list asks for: `limit` (default 50) and the `cursor` it continues from."""
PAGING = Provide(page_request, sync_to_thread=False)


def bounded_page_request(
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


BOUNDED_PAGING = Provide(bounded_page_request, sync_to_thread=False)

PageItems = Annotated[list[T], msgspec.Meta(description="The items of this page.")]
NextCursor = Annotated[
    str | None,
    msgspec.Meta(description="Cursor for the next page (pass as `cursor`); null on the last page."),
]
