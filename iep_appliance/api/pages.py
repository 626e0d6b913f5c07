"""The two fields of a page of a /v1 list (`{data, nextCursor}`), described once:

    class QueueList(msgspec.Struct, frozen=True, rename="camel"):
        data: PageItems[QueueView]
        next_cursor: NextCursor

`PageItems[X]` is `Annotated[list[X], Meta(...)]`, so the OpenAPI document is as if written
out in each struct."""

from typing import Annotated, TypeVar

import msgspec

T = TypeVar("T")

PageItems = Annotated[list[T], msgspec.Meta(description="The items of this page.")]
NextCursor = Annotated[
    str | None,
    msgspec.Meta(description="Cursor for the next page (pass as `cursor`); null on the last page."),
]
