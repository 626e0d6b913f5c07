"""The pure mapping of the Resend- and Postmark-compatible APIs (domain/compat_*.py)."""

import msgspec
import pytest

from iep_appliance.domain import compat_postmark as postmark
from iep_appliance.domain import compat_resend as resend
from iep_appliance.domain.compat_common import (
    address_list,
    bodies,
    bytes_to_base64,
    guess_type,
    literal,
    message_headers,
    split_mailbox,
    unliteral,
)
from iep_appliance.domain.errors import ValidationFailed
from iep_appliance.domain.models import MessageRecord, Sender
from iep_appliance.domain.render import render
from iep_appliance.domain.webhooks import normalize_events


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("a@x.com", ["a@x.com"]),
        ("Ada <a@x.com>", ["a@x.com"]),
        ('"Ada, L." <a@x.com>, b@y.com', ["a@x.com", "b@y.com"]),
        (["a@x.com", "Bo <b@y.com>"], ["a@x.com", "b@y.com"]),
        ("not an address", ["not an address"]),  # left for validation to name
    ],
)
def test_address_list_takes_strings_lists_and_names(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert address_list(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.com", ("a@x.com", None)),
        ("Acme <hello@acme.example.com>", ("hello@acme.example.com", "Acme")),
        ("<hello@acme.example.com>", ("hello@acme.example.com", None)),
    ],
)
def test_split_mailbox(value: str, expected: tuple[str, str | None]) -> None:
    assert split_mailbox(value) == expected


@pytest.mark.parametrize("text", ["plain", "a {{x}} b", "{{#if y}}z{{/if}}", "{{{{raw}}}}"])
def test_literal_renders_back_unchanged_and_unwraps(text: str) -> None:
    wrapped = literal(text)
    assert wrapped is not None
    assert render("s", wrapped, None, {}).html == text
    assert unliteral(wrapped) == text


def test_byte_list_content_becomes_base64_and_bad_bytes_are_refused() -> None:
    assert bytes_to_base64(list(b"hi")) == "aGk="
    assert bytes_to_base64("aG\nk=") == "aGk="
    with pytest.raises(ValueError):
        bytes_to_base64([1, 256])


def test_guess_type_from_the_extension() -> None:
    assert guess_type("report.PDF") == "application/pdf"
    assert guess_type("noext") == "application/octet-stream"


def email(**kw: object) -> resend.ResendEmail:
    base: dict[str, object] = {"from": "Acme <a@acme.example.com>", "to": "b@example.org",
                               "subject": "Hi", "html": "<p>x</p>"}  # fmt: skip
    return msgspec.convert({**base, **kw}, resend.ResendEmail)


def test_resend_email_maps_to_a_send_request() -> None:
    req = resend.to_send_request(
        email(
            cc="c@example.org",
            reply_to=["r@acme.example.com"],
            scheduled_at="2030-01-01T00:00:00Z",
            tags=[{"name": "category", "value": "welcome"}, {"name": "vip"}],
            headers={"X-Ref": "1"},
        )
    )
    assert req.to == ["b@example.org"] and req.cc == ["c@example.org"]
    assert req.from_ == Sender(email="a@acme.example.com", name="Acme")
    assert req.reply_to == "r@acme.example.com"
    assert req.scheduled_at == "2030-01-01T00:00:00Z"
    assert req.metadata == {"tags": ["category:welcome", "vip"], "category": "welcome",
                            "headers": {"X-Ref": "1"}}  # fmt: skip


def test_resend_text_only_email_is_a_text_only_message() -> None:
    req = resend.to_send_request(email(html=None, text="a < b"))
    assert (req.html_body, req.text_body) == ("", "a < b")


def test_resend_missing_fields_are_named_as_required() -> None:
    with pytest.raises(ValidationFailed) as err:
        resend.to_send_request(resend.ResendEmail())
    assert {(e.path, e.message) for e in err.value.errors} == {
        ("from", "is required"), ("to", "is required"), ("subject", "is required"),
        ("html", "is required"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"to": [f"u{i}@example.org" for i in range(51)]}, "to"),
        ({"reply_to": ["a@x.com", "b@x.com"]}, "reply_to"),
        ({"tags": [{"name": "has space"}]}, "tags[0]"),
        ({"headers": {"Bad:Name": "x"}}, "headers.Bad:Name"),
        (
            {"attachments": [{"filename": "a.pdf", "path": "https://x/a.pdf"}]},
            "attachments[0].path",
        ),
        ({"attachments": [{"content": "aGk="}]}, "attachments[0].filename"),
        ({"template": {"id": "t"}}, "template"),
    ],
)
def test_resend_bad_fields_are_named(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        resend.to_send_request(email(**kw))
    assert field in [e.path for e in err.value.errors]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("htmlBody", "html"),
        ("from.email", "from"),
        ("scheduledAt", "scheduled_at"),
        ("attachments[0].contentType", "attachments[0].content_type"),
        ("[3].to[0]", "[3].to[0]"),
        ("[1].replyTo", "[1].reply_to"),
    ],
)
def test_resend_field_names(path: str, expected: str) -> None:
    assert resend.resend_field(path) == expected


def record(**kw: object) -> MessageRecord:
    base: dict[str, object] = dict(
        id="m1",
        tenant_id="t",
        status="sent",
        to=("b@example.org",),
        cc=(),
        bcc=(),
        from_email="a@acme.example.com",
        from_name="Acme",
        reply_to=None,
        subject="Hi",
        html_body=literal("<p>{{x}}</p>"),
        text_body=None,
        rendered_subject=None,
        rendered_html=None,
        rendered_text=None,
        variables={},
        metadata={"tags": ["k:v"]},
        priority="normal",
        provider=None,
        attempts=1,
        max_attempts=3,
        last_error=None,
        sandbox=False,
        queue="default",
        batch_id=None,
        scheduled_at=None,
        sent_at=None,
        created_at="2030-01-01T00:00:00.000Z",
    )
    return MessageRecord(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "last_event"),
    [
        ("queued", "queued"),
        ("processing", "queued"),
        ("scheduled", "scheduled"),
        ("sent", "sent"),
        ("failed", "failed"),
        ("cancelled", "canceled"),
    ],
)
def test_resend_last_event_of_each_status(status: str, last_event: str) -> None:
    assert resend.email_object(record(status=status))["last_event"] == last_event


def test_resend_email_object_gives_back_the_literal_body_and_tags() -> None:
    obj = resend.email_object(record())
    assert obj["object"] == "email" and obj["from"] == "Acme <a@acme.example.com>"
    assert obj["html"] == "<p>{{x}}</p>" and obj["tags"] == [{"name": "k", "value": "v"}]


def test_resend_webhook_body_names_the_event_as_resend_does() -> None:
    body = msgspec.json.decode(
        resend.webhook_body(
            "message.failed", "2030-01-01T00:00:01.000Z", "m1", {"error": "550 no"}, record()
        )
    )
    assert body["type"] == "email.failed" and body["created_at"] == "2030-01-01T00:00:01.000Z"
    assert body["data"]["email_id"] == "m1" and body["data"]["to"] == ["b@example.org"]
    assert body["data"]["failed"] == {"reason": "550 no"}
    assert body["data"]["tags"] == {"k": "v"}


def test_resend_event_names_subscribe_to_iep_events() -> None:
    assert normalize_events(["email.sent", "email.failed", "sent"]) == (
        "message.sent",
        "message.failed",
    )
    assert normalize_events(["email.delivery_delayed"]) == ("message.retrying",)


def pm_email(**kw: object) -> postmark.PostmarkEmail:
    base: dict[str, object] = {"From": "a@acme.example.com", "To": "b@example.org",
                               "Subject": "Hi", "TextBody": "x"}  # fmt: skip
    return msgspec.convert({**base, **kw}, postmark.PostmarkEmail)


def test_postmark_email_maps_to_a_send_request() -> None:
    req = postmark.to_send_request(
        pm_email(
            To="Ada <b@example.org>, c@example.org",
            Tag="welcome",
            Metadata={"k": "v"},
            Headers=[{"Name": "X-Ref", "Value": "1"}],
            MessageStream="outbound",
            Attachments=[{"Name": "a.pdf", "Content": "aGk="}],
        )
    )
    assert req.to == ["b@example.org", "c@example.org"] and req.queue is None
    assert req.metadata == {"category": "welcome", "tags": ["welcome"],
                            "postmarkMetadata": {"k": "v"}, "headers": {"X-Ref": "1"}}  # fmt: skip
    assert req.attachments[0].content_type == "application/pdf"


def test_postmark_message_stream_names_the_queue() -> None:
    assert postmark.to_send_request(pm_email(MessageStream="broadcast")).queue == "broadcast"


def test_postmark_without_body_or_recipient_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        postmark.to_send_request(pm_email(To=None, TextBody=None))
    assert {e.path for e in err.value.errors} == {"To", "HtmlBody"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("to[0]", "To[0]"),
        ("htmlBody", "HtmlBody"),
        ("from.email", "From"),
        ("attachments[0].contentType", "Attachments[0].ContentType"),
        ("queue", "MessageStream"),
    ],
)
def test_postmark_field_names(path: str, expected: str) -> None:
    assert postmark.postmark_field(path) == expected


def test_postmark_refused_attachment_type_is_error_411() -> None:
    from iep_appliance.domain.errors import FieldError

    assert postmark.error_code([FieldError("attachments[0].contentType", "no")]) == 411
    assert postmark.error_code([FieldError("to[0]", "bad")]) == 300


def test_postmark_details_status_and_recipients() -> None:
    got = postmark.details(record(status="queued", cc=("c@example.org",)))
    assert got["Status"] == "Queued" and got["Recipients"] == ["b@example.org", "c@example.org"]
    assert got["HtmlBody"] == "<p>{{x}}</p>" and got["MessageStream"] == "outbound"


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Ref": "a\r\nBcc: evil@example.org"}, "CR, LF"),
        ({"X-Ref": "a\nb"}, "CR, LF"),
        ({"Bad Name": "x"}, "header name"),
        ({"Subject": "other"}, "set by IEP"),
        ({"content-type": "text/plain"}, "set by IEP"),
        ({"DKIM-Signature": "v=1"}, "set by IEP"),
        ({"X-IEP-Queue": "fast"}, "set by IEP"),
        ({"X-Long": "x" * 901}, "at most 900"),
    ],
)
def test_resend_unfit_custom_headers_are_refused_naming_the_header(
    headers: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        resend.to_send_request(email(headers=headers))
    [(path, message)] = [(e.path, e.message) for e in err.value.errors]
    assert path == f"headers.{next(iter(headers))}" and fragment in message


def test_postmark_unfit_custom_header_is_refused_naming_its_index() -> None:
    with pytest.raises(ValidationFailed) as err:
        postmark.to_send_request(
            pm_email(
                Headers=[
                    {"Name": "X-Ok", "Value": "1"},
                    {"Name": "From", "Value": "x@evil.example"},
                ]
            )
        )
    [e] = err.value.errors
    assert e.path == "Headers[1]" and "set by IEP" in e.message


def test_only_compat_messages_carry_their_metadata_headers() -> None:
    metadata: dict[str, object] = {"headers": {"X-Ref": "1", "Subject": "sneaked", "X-B": "a\nb"}}
    assert message_headers("resend", metadata) == (("X-Ref", "1"),)
    assert message_headers("postmark", metadata) == (("X-Ref", "1"),)
    assert message_headers("api", metadata) == ()  # free-form metadata of the native API
    assert message_headers("resend", {"headers": ["X-Ref", "1"]}) == ()


def test_text_only_bodies_are_decided_in_one_place() -> None:
    assert bodies("<p>x</p>", "x") == ("<p>x</p>", "x")
    assert bodies(None, "a < b") == ("", "a < b")  # text-only: one text/plain part, as the core
