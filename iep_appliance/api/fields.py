"""Fields many /v1 views share, described once (like `PageItems` and `NextCursor` in
api/pages.py):

    class QueueView(msgspec.Struct, frozen=True, rename="camel"):
        id: ItsId
        created_at: CreatedAt

Each is `Annotated[str, Meta(description=...)]`, so the OpenAPI document is as if written out
in each struct."""

from typing import Annotated

import msgspec

ItsId = Annotated[str, msgspec.Meta(description="Its id.")]
MessageId = Annotated[str, msgspec.Meta(description="The message's id.")]
CreatedAt = Annotated[str, msgspec.Meta(description="When it was created (ISO 8601, UTC).")]
UpdatedAt = Annotated[str, msgspec.Meta(description="When it last changed (ISO 8601, UTC).")]
SuppressedRecipients = Annotated[
    list[str],
    msgspec.Meta(description="Recipients dropped because they are on the suppression list."),
]
