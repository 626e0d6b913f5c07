"""domain/submission.py: a MIME submission checked and prepared, as tables."""

from datetime import UTC, datetime

import pytest

from iep_appliance.domain.errors import PayloadTooLarge, SenderNotAllowed, ValidationFailed
from iep_appliance.domain.models import AttachmentLimits
from iep_appliance.domain.submission import prepare_raw

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HEAD = b"From: App <noreply@example.com>\r\nTo: ann@example.org\r\nSubject: Hi\r\n"


def prepare(raw: bytes, rcpts: tuple[str, ...] = ("ann@example.org",), **kw: object):
    args: dict[str, object] = {
        "smtputf8": False,
        "allowed_domains": frozenset({"example.com"}),
        "limits": AttachmentLimits(),
        "message_id": "0190-id",
        "message_id_domain": "mx.example.net",
        "date": NOW,
    }
    args.update(kw)
    return prepare_raw(raw, rcpts, **args)  # type: ignore[arg-type]


def multipart(ctype: str, size: int) -> bytes:
    return (
        HEAD + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Disposition: attachment;"
        b' filename="f"\r\n\r\n' + (b"x" * 98 + b"\r\n") * (size // 100) + b"--b--\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "kw", "error", "path"),
    [
        (HEAD + b"\r\nbare\nlf\r\n", {}, ValidationFailed, "mime"),
        (HEAD + b"\r\n" + b"x" * 999 + b"\r\n", {}, ValidationFailed, "mime"),
        (HEAD.replace(b"Hi", "Grüße".encode()) + b"\r\nx\r\n", {}, ValidationFailed, "smtputf8"),
        (b"To: ann@example.org\r\n\r\nx\r\n", {}, ValidationFailed, "from"),
        (b"From: a@other.net\r\n\r\nx\r\n", {}, SenderNotAllowed, None),
        (HEAD + b"not a header\r\n\r\nx\r\n", {}, ValidationFailed, "mime"),
        (multipart("application/x-msdownload", 10), {}, ValidationFailed, "attachments[0]"),
        (
            multipart("application/pdf", 2000),
            {"limits": AttachmentLimits(max_file_bytes=1000)},
            PayloadTooLarge,
            "attachments[0]",
        ),
    ],
)
def test_bad_submissions_raise_the_api_error(
    raw: bytes, kw: dict, error: type, path: str | None
) -> None:
    with pytest.raises(error) as caught:
        prepare(raw, **kw)
    if path is not None:
        assert caught.value.errors[0].path.startswith(path)


def test_998_octet_lines_and_utf8_headers_with_smtputf8_pass() -> None:
    raw = HEAD.replace(b"Hi", "Grüße".encode()) + b"\r\n" + b"x" * 998 + b"\r\n"
    assert prepare(raw, smtputf8=True).subject == "Grüße"


def test_bcc_and_control_headers_are_read_and_removed() -> None:
    raw = (
        HEAD + b"Cc: bob@example.org\r\nBcc: carol@example.org\r\nX-IEP-Queue: news\r\n"
        b"X-IEP-Category: welcome\r\nX-IEP-Tags: a, b\r\nX-IEP-Idempotency-Key: k1\r\n"
        b"Message-ID: <m@x>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    p = prepare(raw, ("ann@example.org", "bob@example.org", "carol@example.org"))
    assert (p.to, p.cc, p.bcc) == (
        ("ann@example.org",),
        ("bob@example.org",),
        ("carol@example.org",),
    )
    assert (p.queue, p.category, p.tags, p.idempotency_key) == ("news", "welcome", ("a", "b"), "k1")
    assert p.mime == (
        b"X-IEP-Message-Id: 0190-id\r\n" + HEAD + b"Cc: bob@example.org\r\n"
        b"Message-ID: <m@x>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    assert p.from_name == "App"


def test_message_id_and_date_are_added_when_missing() -> None:
    p = prepare(HEAD + b"\r\nbody\r\n")
    assert p.mime.startswith(
        b"X-IEP-Message-Id: 0190-id\r\nMessage-ID: <0190-id@mx.example.net>\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    )
    assert p.mime.endswith(HEAD + b"\r\nbody\r\n")
    no_host = prepare(HEAD + b"\r\nbody\r\n", message_id_domain=None)
    assert b"Message-ID: <0190-id@example.com>" in no_host.mime


def test_same_message_same_hash_and_other_recipients_another() -> None:
    raw = HEAD + b"X-IEP-Idempotency-Key: k\r\n\r\nbody\r\n"
    assert prepare(raw).body_hash == prepare(raw, message_id="other").body_hash
    assert prepare(raw).body_hash != prepare(raw, ("bob@example.org",)).body_hash
