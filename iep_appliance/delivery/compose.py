"""The bytes of one attempt: render → read attachments → build MIME → sign (DKIM, after the
List-Unsubscribe headers are prepended). A raw_mime message skips render and build.

A render failure (and a render over a limit of `[render]`), an unreadable attachment and a
raw message whose MIME is gone are permanent: `Unsendable`, never retried. A render runs
inline for its first `INLINE_RENDER_STEPS` steps (about 2 ms); one that needs more is redone on
the single render thread with the full budget, so a heavy template never holds the event loop
(measured: a step costs ~1 µs; a worker-thread hop costs ~55 µs per message, more than a
typical render, so the normal case stays inline).
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from iep_appliance.blobs import Blobs
from iep_appliance.delivery.context import SendContext
from iep_appliance.domain.compat_common import message_headers
from iep_appliance.domain.mime import MimeAttachment, MimeMessage, Signer, build_mime
from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.render import (
    Rendered,
    RenderError,
    RenderLimitExceeded,
    RenderLimits,
    render,
)
from iep_appliance.domain.verdicts import VerdictKind

INLINE_RENDER_STEPS = 2_000
# One thread for the heavy renders: several would share the GIL with the event loop and slow it.
_RENDER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iep-render")


class Unsendable(Exception):
    """The attempt ends before anything is sent: `kind` (a Verdict kind), `error`."""

    def __init__(self, kind: VerdictKind, error: str | None = None) -> None:
        super().__init__(error or kind)
        self.kind: VerdictKind = kind
        self.error = error


async def compose(message: MessageRecord, ctx: SendContext) -> tuple[bytes, Rendered | None]:
    """The signed MIME to send and what was rendered (None for a raw_mime message)."""
    if message.kind == "raw_mime":  # the client's MIME, sent as stored
        if message.raw_mime is None:
            raise Unsendable("unsendable", "raw MIME missing from the store")
        sign = await signer_of(message, ctx)
        return sign(message.raw_mime), None
    try:
        rendered = await render_message(message, ctx.render_limits)
    except RenderError as exc:
        error = str(exc) if isinstance(exc, RenderLimitExceeded) else f"render failed: {exc}"
        raise Unsendable("unsendable", error) from None
    try:
        attachments = await read_attachments(message, ctx.blobs)
    except OSError as exc:
        raise Unsendable("unsendable", f"attachment unreadable: {exc}") from None
    sign = await signer_of(message, ctx)
    return mime_for(message, rendered, attachments, ctx, sign), rendered


async def render_message(message: MessageRecord, limits: RenderLimits) -> Rendered:
    """Render inline while it is cheap; past the inline slice, again on the render thread."""
    args = (message.subject, message.html_body, message.text_body, message.variables, limits)
    try:
        return render(*args, slice_steps=INLINE_RENDER_STEPS)
    except RenderLimitExceeded as exc:
        if not exc.deferred:
            raise
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_RENDER_THREAD, render, *args)


async def read_attachments(message: MessageRecord, blobs: Blobs) -> tuple[MimeAttachment, ...]:
    if not message.attachments:
        return ()

    def read_all() -> tuple[MimeAttachment, ...]:
        return tuple(
            MimeAttachment(a.filename, a.content_type, blobs.get(a.storage_key))
            for a in message.attachments
        )

    return await asyncio.to_thread(read_all)


def mime_for(
    message: MessageRecord,
    rendered: Rendered,
    attachments: tuple[MimeAttachment, ...],
    ctx: SendContext,
    signer: Signer | None = None,
) -> bytes:
    return build_mime(
        MimeMessage(
            message_id=message.id,
            from_email=message.from_email,
            from_name=message.from_name,
            to=message.to,
            cc=message.cc,
            reply_to=message.reply_to,
            names=message.display_names,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            date=ctx.clock.now(),
            message_id_domain=ctx.message_id_domain,
            attachments=attachments,
            headers=message_headers(message.origin, message.metadata),
        ),
        signer or ctx.signer,
    )


async def signer_of(message: MessageRecord, ctx: SendContext) -> Signer:
    """What signs `message`'s MIME: its domain's DKIM key (when it has one), after the
    List-Unsubscribe headers it asked for are prepended."""
    signer = await ctx.signer_for(message.from_email) if ctx.signer_for else None
    return with_unsubscribe(message, ctx, signer)


def with_unsubscribe(message: MessageRecord, ctx: SendContext, signer: Signer | None) -> Signer:
    """Prepend List-Unsubscribe headers (before DKIM signs them) when the message asks for it
    (`unsubscribe`; `metadata.unsubscribe` on messages accepted before that column)."""
    extra = b""
    asked = message.unsubscribe or message.metadata.get("unsubscribe") is True
    if ctx.unsubscribe_headers and asked:
        extra = ctx.unsubscribe_headers(message.id)

    inner = signer or ctx.signer

    def sign(raw: bytes) -> bytes:
        raw = extra + raw
        return inner(raw) if inner is not None else raw

    return sign
