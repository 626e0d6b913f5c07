"""domain/bounces.py over real-world-shaped DSN and ARF samples (tests/fixtures/bounces/), the
RFC 3463 classification table, and hostile input (malformed, deeply nested, huge)."""

from pathlib import Path

import pytest

from iep_appliance.domain.bounces import classify, effects_for, parse_report

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
IEPID = "01936f4e-8a2b-7c3d-9e4f-5a6b7c8d9e0f"
RCPT = "nobody@example.org"
VERP = "bounce+abc@bounces.iep.test"


def sample(name: str, rcpt: str = RCPT) -> bytes:
    text = (SAMPLES / name).read_text()
    text = text.replace("{RCPT}", rcpt).replace("{IEPID}", IEPID).replace("{VERP}", VERP)
    return text.replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    ("name", "kind", "action", "status"),
    [
        ("postfix_dsn_5.1.1.eml", "dsn", "failed", "5.1.1"),
        ("exim_dsn_5.0.0.eml", "dsn", "failed", "5.0.0"),
        ("exchange_dsn_5.1.10.eml", "dsn", "failed", "5.1.10"),
        ("gmail_dsn_5.1.1.eml", "dsn", "failed", "5.1.1"),
        ("gmail_dsn_4.2.2_delayed.eml", "dsn", "delayed", "4.2.2"),
        ("ses_dsn_5.7.1.eml", "dsn", "failed", "5.7.1"),
        ("yahoo_arf_abuse.eml", "arf", "complaint", ""),
        ("ses_arf_abuse.eml", "arf", "complaint", ""),
    ],
)
def test_samples_parse_to_their_recipient_status_and_message(
    name: str, kind: str, action: str, status: str
) -> None:
    report = parse_report(sample(name))

    assert report.kind == kind
    assert [(r.recipient, r.action, r.status) for r in report.recipients] == [
        (RCPT, action, status)
    ]
    assert IEPID in report.message_ids


def test_the_arf_feedback_type_is_read() -> None:
    assert parse_report(sample("yahoo_arf_abuse.eml")).feedback_type == "abuse"


def test_a_non_dsn_bounce_is_unknown_for_the_heuristic_scanner() -> None:
    report = parse_report(sample("qmail_non_dsn.eml"))

    assert report.kind == "unknown" and report.recipients == ()


def test_diagnostics_are_kept_short_and_on_one_line() -> None:
    report = parse_report(sample("gmail_dsn_5.1.1.eml"))

    diagnostic = report.recipients[0].diagnostic
    assert diagnostic.startswith("smtp; 550-5.1.1 The email account")
    assert "\n" not in diagnostic and len(diagnostic) <= 500


@pytest.mark.parametrize(
    ("status", "action", "kind", "strikes"),
    [
        ("5.1.1", "failed", "hard", 1),
        ("5.1.10", "failed", "hard", 1),
        ("5.1.2", "failed", "hard", 3),
        ("5.2.1", "failed", "hard", 3),
        ("5.5.0", "failed", "hard", 3),
        ("5.0.0", "failed", "hard", 3),
        ("", "failed", "hard", 3),
        ("5.2.2", "failed", "soft", 0),
        ("4.2.2", "delayed", "soft", 0),
        ("4.4.1", "failed", "soft", 0),
        ("5.7.1", "failed", "policy", 0),
        ("5.7.26", "failed", "policy", 0),
    ],
)
def test_classification_by_rfc_3463(status: str, action: str, kind: str, strikes: int) -> None:
    verdict = classify(status, action, hard_bounces=3)

    assert verdict is not None
    assert (verdict.kind, verdict.strikes) == (kind, strikes)


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_success_report_is_not_a_bounce(action: str) -> None:
    assert classify("2.0.0", action, 3) is None


def test_effects_skip_a_recipient_the_message_was_not_sent_to() -> None:
    report = parse_report(sample("postfix_dsn_5.1.1.eml", rcpt="victim@example.net"))

    assert effects_for(report, "t", IEPID, (RCPT,), 3) == []


def test_effects_of_a_hard_bounce_and_a_complaint() -> None:
    hard = effects_for(parse_report(sample("postfix_dsn_5.1.1.eml")), "t", IEPID, (RCPT,), 3)
    complaint = effects_for(parse_report(sample("yahoo_arf_abuse.eml")), "t", IEPID, (RCPT,), 3)

    assert [(e.kind, e.strikes, e.webhook) for e in hard] == [("hard", 1, "message.bounced")]
    assert [(e.kind, e.suppress_reason, e.webhook) for e in complaint] == [
        ("complaint", "complaint", "message.complained")
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/"
        b"delivery-status\r\n\r\nFinal-Recipient\r\n--x",
        b"Content-Type: message/delivery-status\r\n\r\nno blocks",
    ],
)
def test_malformed_reports_parse_to_nothing_without_raising(raw: bytes) -> None:
    report = parse_report(raw)

    assert report.recipients == () or all(r.recipient for r in report.recipients)


def test_a_deeply_nested_report_is_walked_only_to_the_depth_bound() -> None:
    inner = sample("postfix_dsn_5.1.1.eml")
    for i in range(200):
        inner = (
            f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
            + inner
            + f"\r\n--b{i}--\r\n".encode()
        )

    report = parse_report(inner)

    assert report.recipients == ()  # the real report sits below MAX_DEPTH: ignored


def test_a_report_with_many_parts_is_bounded() -> None:
    parts = b"".join(b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n" for _ in range(5000))
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + parts + b"--x--\r\n"

    assert parse_report(raw).kind == "unknown"
