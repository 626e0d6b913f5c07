"""What an operator does from the dashboard's messages, outbox and queue pages: retry (one or
many), cancel a scheduled message, retry or discard dead jobs, download an attachment or a
stored .eml, and the sanitized HTML preview of a message. Retries and cancels go through
MessageService, so they follow the same rules as the API's.
"""

import asyncio
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import msgspec

from iep_appliance.blobs import Blobs
from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    IEPError,
    NotFound,
    ValidationFailed,
    or_not_found,
)
from iep_appliance.domain.models import MessageRecord
from iep_appliance.domain.preview import sanitize_counting
from iep_appliance.domain.render import RenderError, render
from iep_appliance.domain.validation import whole_number
from iep_appliance.services.messages import MessageService
from iep_appliance.store.base import Store

# Messages or jobs one bulk action may name.
MAX_BULK = 200


class BulkResult(msgspec.Struct, frozen=True):
    done: int
    refused: list[tuple[str, str]]  # (id, why)


class HtmlPreview(msgspec.Struct, frozen=True):
    html: str  # sanitized
    blocked_images: int  # remote image sources dropped (0 when images were allowed)
    source: str  # outbox | rendered | template


def parse_ids(values: list[str], name: str) -> list[str]:
    ids = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if not ids:
        raise ValidationFailed([FieldError(name, "select at least one")])
    if len(ids) > MAX_BULK:
        raise ValidationFailed([FieldError(name, f"at most {MAX_BULK} at once")])
    return ids


def parse_job_ids(values: list[str]) -> list[int]:
    numbers = [whole_number(v) for v in parse_ids(values, "job")]
    if any(n is None for n in numbers):
        raise ValidationFailed([FieldError("job", "must be job numbers")])
    return [n for n in numbers if n is not None]


# A stored message larger than this is parsed in a thread, off the event loop.
OFF_LOOP_BYTES = 256 * 1024


def html_part(mime: bytes) -> str | None:
    msg = BytesParser(policy=policy.default).parsebytes(mime)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("html",))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        return None
    return content if isinstance(content, str) else None


class DashboardActions:
    def __init__(self, store: Store, messages: MessageService, blobs: Blobs) -> None:
        self.store = store
        self.messages = messages
        self.blobs = blobs

    async def _message(self, message_id: str) -> MessageRecord:
        return or_not_found(await self.store.dashboard_message(message_id), "Message not found")

    # ---- messages ------------------------------------------------------------------------

    async def retry(self, message_ids: list[str]) -> BulkResult:
        """Failed → queued again, each as POST /v1/messages/{id}/retry would."""
        done, refused = 0, []
        for message_id in message_ids:
            try:
                record = await self._message(message_id)
                await self.messages.retry(record.tenant_id, message_id)
                done += 1
            except (NotFound, Conflict) as exc:
                refused.append((message_id, str(exc)))
        return BulkResult(done=done, refused=refused)

    async def cancel(self, message_id: str) -> None:
        """A scheduled (or queued, not started) message is cancelled; Conflict otherwise."""
        record = await self._message(message_id)
        await self.messages.cancel(record.tenant_id, message_id)

    # ---- the DLQ and waiting jobs ----------------------------------------------------------

    async def retry_jobs(self, job_ids: list[int]) -> BulkResult:
        """Dead send jobs: their failed message is retried; dead webhook jobs: re-queued."""
        done, refused = 0, []
        webhook_ids = []
        for job in await self.store.dashboard_job_states(job_ids):
            if job.state != "dead":
                refused.append((str(job.id), f"not in the DLQ (it is {job.state})"))
            elif job.kind == "send":
                try:
                    await self.messages.retry(job.tenant_id, job.ref_id)
                    done += 1
                except IEPError as exc:
                    refused.append((str(job.id), str(exc)))
            else:
                webhook_ids.append(job.id)
        if webhook_ids:
            done += await self.store.dashboard_requeue_webhook_jobs(webhook_ids)
        return BulkResult(done=done, refused=refused)

    async def discard_jobs(self, job_ids: list[int]) -> BulkResult:
        """Dead jobs leave the DLQ for good (a send job's message stays failed)."""
        n = await self.store.dashboard_discard_jobs(job_ids)
        return BulkResult(done=n, refused=[])

    # ---- content ---------------------------------------------------------------------------

    async def attachment(self, message_id: str, attachment_id: str) -> tuple[str, str, bytes]:
        """(filename, content type, bytes) of one attachment of any tenant's message."""
        found = or_not_found(
            await self.store.dashboard_attachment(message_id, attachment_id), "Attachment not found"
        )
        try:
            data = await asyncio.to_thread(self.blobs.get, found.storage_key)
        except FileNotFoundError:
            raise NotFound("The attachment's file is gone") from None
        return found.filename, found.content_type, data

    async def eml(self, message_id: str) -> bytes:
        """The final MIME the outbox provider kept."""
        found = or_not_found(
            await self.store.dashboard_outbox_mime(message_id), "No outbox entry for this message"
        )
        return found.mime

    async def html_preview(self, message_id: str, images: bool) -> HtmlPreview:
        """The message's HTML as sent (the outbox copy), else as rendered, else its template
        rendered now with its variables; sanitized with nh3, remote images dropped unless
        `images`."""
        outbox = await self.store.dashboard_outbox_mime(message_id)
        html, source = None, ""
        if outbox is not None:
            mime = outbox.mime
            if len(mime) > OFF_LOOP_BYTES:  # parsing megabytes would stall sends and accepts
                html = await asyncio.to_thread(html_part, mime)
            else:
                html = html_part(mime)
            source = "outbox"
        if html is None:
            record = await self._message(message_id)
            html, source = record.rendered_html, "rendered"
            if html is None:
                source = "template"
                try:
                    # Off the loop: a template's work is bounded (§10.1), but not a few ms.
                    html = (
                        await asyncio.to_thread(
                            render,
                            record.subject,
                            record.html_body,
                            record.text_body,
                            record.variables,
                        )
                    ).html
                except RenderError as exc:
                    html = f"<p>The template does not render: {exc}</p>"
        cleaned, blocked = sanitize_counting(html, remote_images=images)
        return HtmlPreview(html=cleaned, blocked_images=blocked, source=source)
