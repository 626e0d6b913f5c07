"""Reading what comes back after a send: delivery status notifications (RFC 3464), abuse
feedback reports (ARF, RFC 5965), and their classification by RFC 3463 status (DESIGN §10.3).

Pure: bytes in, values out, standard library `email` only. The walk over MIME parts is
iterative and bounded (depth and part count), so a deeply nested or huge report costs little
and never recurses. Non-DSN bounces (no message/delivery-status part) come back as kind
"unknown" for the caller to hand to a heuristic scanner.
"""

import email
import email.message
import email.parser
import email.policy
import email.utils
import re
from typing import Literal

import msgspec

MAX_DEPTH = 8
# Hard bounces of one address (counted per tenant, at send time) that suppress it.
HARD_BOUNCES_TO_SUPPRESS = 3
MAX_PARTS = 200
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_IEP_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
Kind = Literal["hard", "soft", "policy"]


class RecipientReport(msgspec.Struct, frozen=True, kw_only=True):
    recipient: str
    action: str  # "failed" | "delayed" | "delivered" | ... ; "complaint" for ARF
    status: str  # RFC 3463 "5.1.1"; "" when none was given
    diagnostic: str = ""


class Report(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # "dsn" | "arf" | "unknown"
    recipients: tuple[RecipientReport, ...] = ()
    message_ids: tuple[str, ...] = ()  # IEP ids named by the returned headers
    feedback_type: str | None = None
    subject: str = ""


class Verdict(msgspec.Struct, frozen=True):
    kind: Kind
    strikes: int  # hard bounces that suppress the address (0: never)


def classify(status: str, action: str, hard_bounces: int) -> Verdict | None:
    """The RFC 3463 class of one recipient's report; None when it is not a failure."""
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return None
    if action == "delayed" or status.startswith("4."):
        return Verdict("soft", 0)
    if status.startswith("5.7."):
        return Verdict("policy", 0)
    if status == "5.2.2":  # mailbox full: a state of the mailbox, not of the address
        return Verdict("soft", 0)
    if status == "5.1.1" or status == "5.1.10":  # no such user: one strike is enough
        return Verdict("hard", 1)
    if status.startswith("5.") or (not status and action == "failed"):
        return Verdict("hard", hard_bounces)
    return None


def _walk(root: email.message.Message) -> list[tuple[email.message.Message, int]]:
    """Every part with its depth, breadth first, at most MAX_PARTS and MAX_DEPTH deep."""
    out: list[tuple[email.message.Message, int]] = []
    queue = [(root, 0)]
    while queue and len(out) < MAX_PARTS:
        part, depth = queue.pop(0)
        out.append((part, depth))
        if depth >= MAX_DEPTH:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            queue.extend(
                (p, depth + 1) for p in payload[:MAX_PARTS] if isinstance(p, email.message.Message)
            )
    return out


def _blocks(part: email.message.Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for item in payload[:MAX_PARTS]:
            if isinstance(item, email.message.Message):
                blocks.append({k.lower(): _text(v) for k, v in item.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    for chunk in re.split(r"\r?\n\s*\r?\n", text)[:MAX_PARTS]:
        fields = email.parser.HeaderParser().parsestr(chunk)
        if fields.keys():
            blocks.append({k.lower(): _text(v) for k, v in fields.items()})
    return blocks


def _text(value: object) -> str:
    return " ".join(str(value).split())[:500]


def _address(field: str) -> str:
    """'rfc822; a@x.com' → 'a@x.com'."""
    value = field.split(";", 1)[1] if ";" in field else field
    return value.strip().strip("<>").strip().lower()


def _returned_headers(part: email.message.Message) -> email.message.Message | None:
    ctype = part.get_content_type()
    if ctype == "text/rfc822-headers":
        body = part.get_payload(decode=True)
        if not isinstance(body, bytes):  # None: a multipart part has no decoded payload
            body = b""
        return email.parser.BytesHeaderParser().parsebytes(body[:65536])
    if ctype == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
            return inner[0]
    return None


def _ids(headers: email.message.Message) -> list[str]:
    found = []
    for name in ("X-IEP-Message-Id", "Message-ID", "References", "In-Reply-To"):
        for value in headers.get_all(name, []) or []:
            found += _IEP_ID.findall(str(value))
    return [f.lower() for f in found]


def parse_report(raw: bytes) -> Report:
    """What a returned mail reports. Never raises for malformed input (it reports less)."""
    try:
        root = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # the stdlib parser is lenient; this is a last resort
        return Report(kind="unknown")
    parts = _walk(root)
    ids: list[str] = []
    recipients: list[RecipientReport] = []
    kind = "unknown"
    feedback_type = None
    original_to: list[str] = []
    for part, depth in parts:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and kind != "arf":
            kind = "dsn"
            for block in _blocks(part)[1:]:
                rcpt = block.get("final-recipient") or block.get("original-recipient")
                if not rcpt:
                    continue
                match = _STATUS.search(block.get("status", ""))
                recipients.append(
                    RecipientReport(
                        recipient=_address(rcpt),
                        action=block.get("action", "").lower(),
                        status=".".join(match.groups()) if match else "",
                        diagnostic=block.get("diagnostic-code", ""),
                    )
                )
        elif ctype == "message/feedback-report":
            kind = "arf"
            fields: dict[str, str] = {}
            for block in _blocks(part):
                fields.update(block)
            feedback_type = fields.get("feedback-type", "abuse").lower()
            if fields.get("original-rcpt-to"):
                original_to.append(_address(fields["original-rcpt-to"]))
        elif depth > 0 and (headers := _returned_headers(part)) is not None:
            ids += _ids(headers)
            if headers.get("To"):
                original_to += [
                    a.lower() for _, a in email.utils.getaddresses([str(headers["To"])]) if a
                ]
    if kind == "arf":
        recipients = [
            RecipientReport(recipient=r, action="complaint", status="")
            for r in dict.fromkeys(original_to[:1] or original_to)
        ]
    return Report(
        kind=kind,
        recipients=tuple(recipients[:MAX_PARTS]),
        message_ids=tuple(dict.fromkeys(ids)),
        feedback_type=feedback_type,
        subject=_text(root.get("Subject", "")),
    )


# ---- what an inbound mail changes ------------------------------------------------------------


class InboundMail(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted inbound mail, as stored (a bounded copy of `raw`)."""

    id: str
    tenant_id: str | None
    message_id: str | None
    kind: str  # "bounce" | "complaint" | "unsubscribe" | "unmatched"
    mail_from: str
    rcpt_to: str
    size: int
    raw: bytes
    summary: dict[str, object]
    received_at: str


class InboundEffect(msgspec.Struct, frozen=True, kw_only=True):
    """One change to one recipient of one message; recorded once per (message, recipient, kind)."""

    tenant_id: str
    message_id: str
    recipient: str
    kind: str  # "hard" | "soft" | "policy" | "complaint" | "unsubscribe"
    status: str = ""
    diagnostic: str = ""
    strikes: int = 0  # hard bounces that suppress (0: this effect never suppresses)
    suppress_reason: str | None = None  # "complaint" | "unsubscribe": suppress at once
    recipients_total: int = 1  # the message's recipients: all hard-bounced → status bounced
    webhook: str | None = None  # "message.bounced" | "message.complained" | ...


def effects_for(
    report: Report,
    tenant_id: str,
    message_id: str,
    message_recipients: tuple[str, ...],
    hard_bounces: int,
) -> list[InboundEffect]:
    """The effects of `report` on one message. A recipient the message was not sent to changes
    nothing (a genuine token must not let a forged report suppress arbitrary addresses)."""
    known = {r.lower() for r in message_recipients}
    total = len(known)
    out: list[InboundEffect] = []
    for r in report.recipients:
        if r.recipient not in known:
            continue
        if r.action == "complaint":
            out.append(
                InboundEffect(
                    tenant_id=tenant_id,
                    message_id=message_id,
                    recipient=r.recipient,
                    kind="complaint",
                    diagnostic=report.feedback_type or "abuse",
                    suppress_reason="complaint",
                    recipients_total=total,
                    webhook="message.complained",
                )
            )
            continue
        verdict = classify(r.status, r.action, hard_bounces)
        if verdict is None:
            continue
        out.append(
            InboundEffect(
                tenant_id=tenant_id,
                message_id=message_id,
                recipient=r.recipient,
                kind=verdict.kind,
                status=r.status,
                diagnostic=r.diagnostic,
                strikes=verdict.strikes if verdict.kind == "hard" else 0,
                recipients_total=total,
                webhook=None if verdict.kind == "soft" else "message.bounced",
            )
        )
    return out


class InboundSummary(msgspec.Struct, frozen=True, rename="camel"):
    """An inbound mail matched to a message, without its raw bytes (camelCase on the wire)."""

    id: str
    kind: str
    mail_from: str
    rcpt_to: str
    size: int
    summary: dict[str, object]
    received_at: str


def suppresses(hard_bounces: int, strikes: int = HARD_BOUNCES_TO_SUPPRESS) -> bool:
    """Whether an address with `hard_bounces` counted is suppressed now (`strikes` 0: never)."""
    return strikes > 0 and hard_bounces >= strikes
