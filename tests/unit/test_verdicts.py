"""domain/verdicts.py: what each way an attempt can end records (status, events, DLQ, webhook)."""

from datetime import UTC, datetime

import pytest

from iep_appliance.domain.models import Job, MessageRecord
from iep_appliance.domain.outcomes import RecipientRejection
from iep_appliance.domain.retry import Decision
from iep_appliance.domain.verdicts import (
    OUTCOMES,
    Verdict,
    after_crash_verdict,
    completion,
    from_decision,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
JOB = Job(1, "send", "m1", "t1", 0, attempts=2, max_attempts=5, run_at="2026-01-01T00:00:00Z")


def message(sandbox: bool = False) -> MessageRecord:
    return MessageRecord(
        id="m1",
        tenant_id="t1",
        status="processing",
        to=("a@example.org",),
        cc=(),
        bcc=("s@example.org",),
        from_email="f@example.com",
        from_name=None,
        reply_to=None,
        subject="stored subject",
        html_body="<p>x</p>",
        text_body=None,
        rendered_subject=None,
        rendered_html=None,
        rendered_text=None,
        variables={},
        metadata={},
        priority="normal",
        provider=None,
        attempts=2,
        max_attempts=5,
        last_error=None,
        sandbox=sandbox,
        queue="default",
        batch_id=None,
        scheduled_at=None,
        sent_at=None,
        created_at="2026-01-01T00:00:00Z",
    )


BOUNCE = RecipientRejection("b@example.org", 550, "no such user")


def test_a_sent_attempt_records_its_bounces_the_sent_event_and_the_webhook() -> None:
    decision = Decision(kind="sent", error="not retried: 450 busy <c@x>", bounced=(BOUNCE,))
    verdict = from_decision(decision, "relay", "pm-1")
    rendered = ("Hi", "<p>Hi</p>", "Hi")

    c = completion(JOB, message(), verdict, NOW, rendered, ["s@example.org"])

    assert (c.status, c.attempts, c.provider, c.error, c.dead) == ("sent", 2, "relay", None, False)
    assert c.sent_at == "2026-01-02T03:04:05.000Z" and c.rendered == rendered
    assert c.events == (
        ("suppressed", {"recipient": "s@example.org"}),
        (
            "bounced",
            {
                "provider": "relay",
                "attempt": 2,
                "recipient": "b@example.org",
                "code": 550,
                "error": "550 no such user",
            },
        ),
        (
            "sent",
            {
                "provider": "relay",
                "attempt": 2,
                "providerMessageId": "pm-1",
                "note": "not retried: 450 busy <c@x>",
            },
        ),
    )
    assert c.hard_bounces == ("b@example.org",)
    assert c.webhook_event == "message.sent"
    assert c.webhook_data == {
        "to": ["a@example.org"],
        "subject": "Hi",
        "provider": "relay",
        "attempts": 2,
    }


def test_a_transient_failure_with_retries_left_is_queued_with_its_retry_time() -> None:
    verdict = from_decision(Decision(kind="retry", retry_in=60, error="451 later"), "relay")

    c = completion(JOB, message(sandbox=True), verdict, NOW)

    assert (c.status, c.retry_at, c.error) == ("queued", "2026-01-02T03:05:05.000Z", "451 later")
    assert c.events == (
        (
            "retry_scheduled",
            {
                "sandbox": True,
                "provider": "relay",
                "attempt": 2,
                "error": "451 later",
                "retryAt": "2026-01-02T03:05:05.000Z",
            },
        ),
    )
    assert c.webhook_event == "message.retrying" and c.webhook_data["sandbox"] is True


@pytest.mark.parametrize(
    ("dlq", "kind", "events"), [(False, "failed", ["failed"]), (True, "gave_up", ["failed", "dlq"])]
)
def test_a_failure_after_sending_is_failed_and_out_of_attempts_goes_to_the_dlq(
    dlq: bool, kind: str, events: list[str]
) -> None:
    verdict = from_decision(Decision(kind="failed", dlq=dlq, error="554 no"), "relay")

    c = completion(JOB, message(), verdict, NOW)

    assert verdict.kind == kind
    assert (c.status, c.dead, c.error, c.webhook_event) == (
        "failed",
        dlq,
        "554 no",
        "message.failed",
    )
    assert [name for name, _ in c.events] == events
    assert c.webhook_data["subject"] == "stored subject"  # nothing rendered (raw MIME)


def test_a_failure_before_sending_names_no_attempt_and_no_provider() -> None:
    c = completion(JOB, message(), Verdict("suppressed"), NOW, suppressed=["a@example.org"])

    assert (c.status, c.error, c.provider) == ("failed", "all recipients are suppressed", None)
    assert c.events == (
        ("suppressed", {"recipient": "a@example.org"}),
        ("failed", {"error": "all recipients are suppressed"}),
    )
    assert c.webhook_event == "message.failed"


def test_a_deferred_attempt_is_given_back_and_records_nothing_but_its_wait() -> None:
    verdict = Verdict("deferred", provider="relay", retry_in=30)

    c = completion(JOB, message(), verdict, NOW, ("s", "h", "t"), ["s@example.org"])

    assert (c.status, c.attempts, c.deferred, c.provider, c.rendered) == (
        "queued", 1, True, None, None,
    )  # fmt: skip
    assert c.error == (
        "circuit open for provider 'relay' and no healthy fallback;"
        " waiting for its trial at 2026-01-02T03:04:35.000Z (no attempt spent)"
    )
    assert c.events == (
        ("queued", {"provider": "relay", "deferred": True, "retryAt": "2026-01-02T03:04:35.000Z"}),
    )
    assert c.webhook_event is None and c.webhook_data == {}


def test_a_held_tenant_gives_the_attempt_back_without_an_event() -> None:
    c = completion(JOB, message(), Verdict("held", retry_in=60), NOW)

    assert (c.status, c.attempts, c.deferred, c.events, c.webhook_event) == (
        "queued", 1, True, (), None,
    )  # fmt: skip
    assert c.error is not None and c.error.startswith("held: ")


def test_a_crash_retries_on_the_schedule_then_gives_up_into_the_dlq() -> None:
    retry = completion(JOB, message(), after_crash_verdict("crashed: KeyError", 300), NOW)
    dead = completion(JOB, message(), after_crash_verdict("crashed: KeyError", None), NOW)

    assert retry.events == (
        (
            "retry_scheduled",
            {"attempt": 2, "error": "crashed: KeyError", "retryAt": "2026-01-02T03:09:05.000Z"},
        ),
    )
    assert (dead.status, dead.dead) == ("failed", True)
    assert dead.events == (
        ("failed", {"attempt": 2, "error": "crashed: KeyError"}),
        ("dlq", {"attempt": 2, "error": "crashed: KeyError"}),
    )


def test_a_purged_message_fails_its_job_quietly() -> None:
    c = completion(JOB, None, Verdict("missing"), NOW)

    assert (c.message_id, c.status, c.error, c.events, c.webhook_event) == (
        "m1", "failed", "message missing", (), None,
    )  # fmt: skip


def test_every_verdict_has_a_row() -> None:
    from typing import get_args

    from iep_appliance.domain.verdicts import VerdictKind

    assert set(OUTCOMES) == set(get_args(VerdictKind))
