import email
import email.policy
import random
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from iep_appliance.domain.mime import MimeAttachment, MimeMessage, build_mime

DATE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
PDF = bytes(random.Random(2026).getrandbits(8) for _ in range(100 * 1024))


def message(**overrides: object) -> MimeMessage:
    fields: dict[str, object] = {
        "message_id": "msg_01HX9Z",
        "from_email": "news@example.com",
        "from_name": "Zoë Ångström",
        "to": ("ann@example.com", "bob@example.org"),
        "cc": (),
        "reply_to": None,
        "subject": "Grüße — 你好 🎉",
        "html": "<p>Hallo <b>Zoë</b> — 你好 🎉</p>\n<p>Second line</p>",
        "text": "Hallo Zoë — 你好 🎉\nSecond line",
        "date": DATE,
        "message_id_domain": "mail.example.com",
    }
    fields.update(overrides)
    return MimeMessage(**fields)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    return raw[:-2].split(b"\r\n")


def unfolded_header(raw: bytes, name: str) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    fields = head.replace("\r\n ", " ").split("\r\n")
    matches = [f.split(": ", 1)[1] for f in fields if f.lower().startswith(name.lower() + ":")]
    assert len(matches) == 1
    return matches[0]


@pytest.mark.parametrize(
    "subject",
    [
        "Grüße — 你好 🎉",
        "Plain ASCII subject",
        "",
        "x" * 300,
        " ".join(["word"] * 60),
        "Grüße — 你好 🎉 " * 20,
        "naïve " * 50,
        "=?utf-8?q?not_an_encoded_word?=",
        "tab\tinside",
    ],
)
def test_subject_decodes_back_exactly(subject: str) -> None:
    assert str(parse(build_mime(message(subject=subject)))["Subject"]) == subject


@pytest.mark.parametrize(
    "subject",
    [" ".join(["word"] * 60), "Grüße — 你好 🎉 " * 20, "é" * 300, "a" * 300],
)
def test_long_subject_is_folded_to_short_lines(subject: str) -> None:
    raw = build_mime(message(subject=subject))
    head = raw.split(b"\r\n\r\n", 1)[0]
    subject_lines = head.split(b"Subject:", 1)[1].split(b"\r\nDate:", 1)[0].split(b"\r\n")
    assert len(subject_lines) > 1
    subject_lines[0] = b"Subject:" + subject_lines[0]
    # An unbreakable 300-char ASCII word is encoded so it can fold; every line fits in 78.
    assert max(len(line) for line in subject_lines) <= 78


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello\r\nBcc: victim@example.com", "Hello Bcc: victim@example.com"),
        ("a\nb", "a b"),
        ("a\r\rb", "a b"),
    ],
)
def test_crlf_in_subject_becomes_a_space(subject: str, expected: str) -> None:
    parsed = parse(build_mime(message(subject=subject)))
    assert str(parsed["Subject"]) == expected
    assert parsed["Bcc"] is None


@pytest.mark.parametrize("name", ["Zoë Ångström", "Ann Smith", 'Smith, "Doc" \\ Ann', "你好 🎉"])
def test_from_display_name_decodes_back_exactly(name: str) -> None:
    sender = parse(build_mime(message(from_name=name)))["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (name, "news@example.com")


def test_long_non_ascii_display_name_decodes_per_rfc_2047() -> None:
    # Split over several encoded words; RFC 2047 §6.2 drops the space between them (the 3.11
    # stdlib address parser keeps one, so this checks with the RFC-conformant decoder).
    name = "Zoë Ångström de la Montaña y Müller-Lüdenscheidt"
    raw = build_mime(message(from_name=name))
    phrase = unfolded_header(raw, "From").rsplit(" <", 1)[0]
    assert str(make_header(decode_header(phrase))) == name


def test_crlf_in_display_name_becomes_a_space() -> None:
    sender = parse(build_mime(message(from_name="Ann\r\nBcc: x@y.z")))["From"].addresses[0]
    assert sender.display_name == "Ann Bcc: x@y.z"


def test_from_without_display_name_is_the_bare_address() -> None:
    assert unfolded_header(build_mime(message(from_name=None)), "From") == "news@example.com"


def test_to_cc_and_reply_to_carry_the_given_addresses() -> None:
    parsed = parse(build_mime(message(cc=("carl@example.net",), reply_to="support@example.com")))
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ann@example.com", "bob@example.org"]
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["carl@example.net"]
    assert [a.addr_spec for a in parsed["Reply-To"].addresses] == ["support@example.com"]


def test_no_cc_or_reply_to_header_when_absent() -> None:
    parsed = parse(build_mime(message()))
    assert parsed["Cc"] is None
    assert parsed["Reply-To"] is None


def test_bcc_header_is_never_written() -> None:
    raw = build_mime(message(cc=("c@example.com",), reply_to="r@example.com"))
    assert b"bcc" not in raw.lower()


def test_headers_fold_to_78_characters() -> None:
    to = tuple(f"user{i}@example.com" for i in range(40))
    raw = build_mime(message(to=to, from_name="Zoë Ångström " * 6, subject="Grüße — 你好 🎉 " * 9))
    assert [a.addr_spec for a in parse(raw)["To"].addresses] == list(to)
    assert max(len(line) for line in lines(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n")) <= 78


def test_message_id_embeds_the_api_id_and_x_iep_message_id_is_exact() -> None:
    parsed = parse(build_mime(message()))
    assert parsed["Message-ID"] == "<msg_01HX9Z@mail.example.com>"
    assert parsed["X-IEP-Message-Id"] == "msg_01HX9Z"


def test_date_and_mime_version_headers() -> None:
    parsed = parse(build_mime(message()))
    assert parsed["Date"].datetime == DATE
    assert parsed["MIME-Version"] == "1.0"


def test_body_is_multipart_alternative_with_text_then_html() -> None:
    m = message()
    parsed = parse(build_mime(m))
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    # Line breaks travel as CRLF on the wire (RFC 2045 canonical form).
    assert parts[0].get_content().replace("\r\n", "\n") == m.text
    assert parts[1].get_content().replace("\r\n", "\n") == m.html


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "line with trailing spaces   \nnext",
        "a=b and =?utf-8?q?x?= and --=_iep_alt_",
        "\n.\nFrom here\n",
        "mixed\r\nline\rendings\n",
    ],
)
def test_awkward_bodies_decode_back(text: str) -> None:
    parsed = parse(build_mime(message(text=text, html=text)))
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    for part in parsed.iter_parts():
        assert part.get_content().replace("\r\n", "\n") == expected


def test_every_line_ends_in_crlf_and_fits_998_octets() -> None:
    m = message(
        subject="é" * 400,
        from_name="Ø" * 400,
        html="<p>" + "y" * 5000 + "</p>",
        text="z" * 5000,
        attachments=(MimeAttachment("résumé 2026.pdf", "application/pdf", PDF),),
    )
    raw = build_mime(m)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in lines(raw)) <= 998


def test_attachment_is_byte_identical_with_its_non_ascii_filename() -> None:
    m = message(attachments=(MimeAttachment("résumé 2026.pdf", "application/pdf", PDF),))
    parsed = parse(build_mime(m))
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == m.text
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "résumé 2026.pdf"
    assert attachment.get_content() == PDF


@pytest.mark.parametrize(
    "filename",
    [
        "report.pdf",
        "résumé 2026.pdf",
        "你好世界 🎉 " * 12 + ".txt",
        'quote "and" back\\slash.txt',
        "a" * 200 + ".bin",
        "semi;colon = equals.txt",
    ],
)
def test_attachment_filenames_decode_back_exactly(filename: str) -> None:
    m = message(attachments=(MimeAttachment(filename, "application/octet-stream", b"\x00\x01"),))
    raw = build_mime(m)
    [attachment] = list(parse(raw).iter_attachments())
    assert attachment.get_filename() == filename
    assert max(len(line) for line in lines(raw)) <= 998


def test_attachment_carries_a_legacy_name_parameter() -> None:
    m = message(attachments=(MimeAttachment("résumé 2026.pdf", "application/pdf", b"%PDF"),))
    [attachment] = list(parse(build_mime(m)).iter_attachments())
    assert attachment.get_param("name") == "résumé 2026.pdf"


def test_crlf_in_filename_becomes_a_space() -> None:
    m = message(attachments=(MimeAttachment("evil\r\nX-Injected: 1.txt", "text/plain", b"x"),))
    raw = build_mime(m)
    [attachment] = list(parse(raw).iter_attachments())
    assert attachment.get_filename() == "evil X-Injected: 1.txt"
    assert b"\r\nX-Injected" not in raw


def test_several_attachments_keep_their_order() -> None:
    files = tuple(MimeAttachment(f"f{i}.txt", "text/plain", bytes([i]) * 10) for i in range(3))
    parsed = parse(build_mime(message(attachments=files)))
    got = [(a.get_filename(), a.get_content()) for a in parsed.iter_attachments()]
    assert got == [("f0.txt", "\x00" * 10), ("f1.txt", "\x01" * 10), ("f2.txt", "\x02" * 10)]


def test_attachment_base64_lines_are_76_characters() -> None:
    m = message(attachments=(MimeAttachment("a.bin", "application/octet-stream", PDF),))
    raw = build_mime(m)
    body = raw.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1]
    b64_lines = body.split(b"\r\n--", 1)[0].split(b"\r\n")
    assert {len(line) for line in b64_lines[:-1]} == {76}


def test_output_is_deterministic_for_the_same_message() -> None:
    m = message(attachments=(MimeAttachment("a.bin", "application/octet-stream", b"x"),))
    assert build_mime(m) == build_mime(m)


def test_boundaries_differ_between_messages() -> None:
    first = parse(build_mime(message(message_id="msg_a"))).get_boundary()
    second = parse(build_mime(message(message_id="msg_b"))).get_boundary()
    assert first != second


def test_signer_receives_the_message_and_its_result_is_returned() -> None:
    seen: list[bytes] = []

    def signer(raw: bytes) -> bytes:
        seen.append(raw)
        return b"DKIM-Signature: v=1; test\r\n" + raw

    m = message()
    signed = build_mime(m, signer=signer)
    assert seen == [build_mime(m)]
    assert signed == b"DKIM-Signature: v=1; test\r\n" + seen[0]
    assert parse(signed)["DKIM-Signature"] == "v=1; test"


def test_non_ascii_address_passes_through_as_utf8() -> None:
    raw = build_mime(message(to=("zoë@exämple.com",)))
    assert "zoë@exämple.com".encode() in raw


def test_stdlib_parser_reports_no_defects() -> None:
    m = message(
        cc=("c@example.com",),
        attachments=(MimeAttachment("résumé 2026.pdf", "application/pdf", PDF),),
    )
    assert all(not part.defects for part in parse(build_mime(m)).walk())


# ---- display names of recipients and Reply-To (DESIGN §10.1) -------------------------------


def test_recipient_and_reply_to_names_decode_back_exactly() -> None:
    names = {
        "zoe@example.net": "Zoë Müller",
        "bob@example.org": 'Bob "the" Builder, Jr.',
        "help@example.com": "Help Désk",
    }
    raw = build_mime(
        message(
            to=("zoe@example.net", "bob@example.org", "ann@example.com"),
            cc=("Help@Example.com",),
            reply_to="help@example.com",
            names=names,
        )
    )
    parsed = parse(raw)

    to = [(a.display_name, a.addr_spec) for a in parsed["To"].addresses]
    assert to == [
        ("Zoë Müller", "zoe@example.net"),
        ('Bob "the" Builder, Jr.', "bob@example.org"),
        ("", "ann@example.com"),
    ]
    assert [(a.display_name, a.addr_spec) for a in parsed["Cc"].addresses] == [
        ("Help Désk", "Help@Example.com")
    ]
    reply = parsed["Reply-To"].addresses[0]
    assert (reply.display_name, reply.addr_spec) == ("Help Désk", "help@example.com")
    assert "=?utf-8?b?" in unfolded_header(raw, "To")  # non-ASCII names travel RFC 2047-encoded
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()
    assert max(len(line) for line in lines(raw)) <= 78


def test_many_long_recipient_names_fold_and_decode_per_rfc_2047() -> None:
    to = tuple(f"user{i}@example.com" for i in range(6))
    names = {a: f"Ångström de la Montaña {i}" for i, a in enumerate(to)}
    raw = build_mime(message(to=to, names=names))

    header = unfolded_header(raw, "To")
    mailboxes = header.split(">, ")
    assert len(mailboxes) == len(to)
    for i, mailbox in enumerate(mailboxes):
        phrase, _, address = mailbox.rstrip(">").rpartition(" <")
        assert address == to[i]
        assert str(make_header(decode_header(phrase))) == names[to[i]]
    assert all(len(line) <= 78 for line in lines(raw)[:20])


# ---- text-only messages ---------------------------------------------------------


@pytest.mark.parametrize("text", ["Hallo Zoë\nSecond line", "ends with a break\n"])
def test_a_message_without_html_is_one_text_plain_part(text: str) -> None:
    raw = build_mime(message(html="", text=text))

    parsed = parse(raw)
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n").rstrip("\n") == text.rstrip("\n")
    assert b"text/html" not in raw and b"multipart" not in raw
    assert max(len(line) for line in lines(raw)) <= 998


def test_a_text_only_message_with_an_attachment_is_mixed_without_an_html_part() -> None:
    raw = build_mime(
        message(html="", attachments=(MimeAttachment("a.pdf", "application/pdf", PDF),))
    )

    parsed = parse(raw)
    kinds = [p.get_content_type() for p in parsed.iter_parts()]
    assert parsed.get_content_type() == "multipart/mixed"
    assert kinds == ["text/plain", "application/pdf"]
    assert b"text/html" not in raw
    assert next(parsed.iter_attachments()).get_content() == PDF


def test_custom_headers_are_written_before_the_body_as_given() -> None:
    url = "<https://acme.example.com/unsubscribe?token=" + "t" * 120 + ">"
    raw = build_mime(
        message(
            headers=(("X-Entity-Ref", "abc 123"), ("List-Unsubscribe", url), ("X-Note", "Grüße"))
        )
    )
    parsed = parse(raw)
    assert parsed["X-Entity-Ref"] == "abc 123"
    assert unfolded_header(raw, "List-Unsubscribe") == url  # a long URL is never cut or encoded
    assert str(parsed["X-Note"]) == "Grüße"
    assert raw.index(b"X-Entity-Ref") < raw.index(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in lines(raw))


def test_crlf_in_a_custom_header_value_becomes_a_space() -> None:
    raw = build_mime(message(headers=(("X-Ref", "a\r\nBcc: evil@example.org"),)))
    assert b"\r\nBcc:" not in raw
    assert unfolded_header(raw, "X-Ref") == "a Bcc: evil@example.org"
