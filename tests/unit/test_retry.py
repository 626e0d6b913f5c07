import pytest

from iep_appliance.domain.outcomes import RecipientRejection, SendOutcome
from iep_appliance.domain.retry import Decision, classify, decide, describe, validate_schedule

SCHEDULE = (60, 300, 900, 3600)

A, B = "a@example.com", "b@example.com"
R550_A = RecipientRejection(address=A, code=550, message="5.1.1 User unknown")
R551_B = RecipientRejection(address=B, code=551, message="5.1.6 Moved")
R451_B = RecipientRejection(address=B, code=451, message="4.7.1 Greylisted")

SENT = SendOutcome(provider="smtp", accepted=(A, B), code=250, message="2.0.0 Ok: queued")


def smtp(**fields: object) -> SendOutcome:
    return SendOutcome(provider="smtp", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (SENT, True),
        (smtp(accepted=(A,), rejected=(R551_B,)), True),
        (smtp(), False),
        (smtp(accepted=(A,), stage="data", code=554), False),
    ],
)
def test_ok_means_handed_over_for_someone(outcome: SendOutcome, expected: bool) -> None:
    assert outcome.ok is expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (SENT, "ok"),
        (smtp(accepted=(A,), rejected=(R551_B,)), "ok"),
        (smtp(accepted=(A,), rejected=(R451_B,)), "ok"),
        (smtp(stage="network", network_error="connection refused"), "transient"),
        (smtp(stage="connect", network_error="ECONNRESET"), "transient"),
        (smtp(stage="timeout", network_error="read timed out"), "transient"),
        (smtp(stage="timeout"), "transient"),
        (smtp(stage="connect", code=421, message="Service not available"), "transient"),
        (smtp(stage="connect", code=554, message="No SMTP service here"), "permanent"),
        (smtp(stage="mail", code=451, message="Try later"), "transient"),
        (smtp(stage="mail", code=550, message="Sender rejected"), "permanent"),
        (smtp(stage="data", code=452, message="Insufficient storage"), "transient"),
        (smtp(stage="data", code=554, message="Message rejected"), "permanent"),
        (smtp(stage="auth", code=535, message="Bad credentials"), "permanent"),
        (smtp(stage="auth", code=454, message="Temporary auth failure"), "permanent"),
        (smtp(stage="mail", code=535, message="Authentication required"), "permanent"),
        (smtp(stage="render", message="Error at character 3"), "permanent"),
        (smtp(stage="rcpt", rejected=(R550_A, R551_B)), "bounced"),
        (smtp(stage="rcpt", rejected=(R550_A,)), "bounced"),
        (smtp(stage="rcpt", rejected=(R550_A, R451_B)), "transient"),
        (smtp(stage="rcpt", rejected=(R451_B,)), "transient"),
        (smtp(stage="rcpt", code=550, message="No valid recipients"), "permanent"),
        (smtp(stage="data"), "transient"),
        (smtp(stage="http", code=429, message="Too many requests"), "transient"),
        (smtp(stage="http", code=503, message="Unavailable"), "transient"),
        (smtp(stage="http", code=500), "transient"),
        (smtp(stage="http", code=422, message="Invalid sender"), "permanent"),
        (smtp(stage="http", code=401, message="Bad key"), "permanent"),
    ],
)
def test_classify_follows_design_section_5(outcome: SendOutcome, expected: str) -> None:
    assert classify(outcome) == expected


@pytest.mark.parametrize(
    ("attempts_made", "retry_in"),
    [(1, 60), (2, 300), (3, 900), (4, 3600)],
)
def test_transient_failure_retries_on_the_schedule(attempts_made: int, retry_in: int) -> None:
    outcome = smtp(stage="rcpt", rejected=(R451_B,))
    decision = decide(outcome, attempts_made, SCHEDULE)
    assert (decision.kind, decision.retry_in, decision.dlq) == ("retry", retry_in, False)


def test_451_on_rcpt_schedules_retry_in_60_seconds() -> None:
    decision = decide(smtp(stage="rcpt", rejected=(R451_B,)), 1, SCHEDULE)
    assert decision == Decision(
        kind="retry", retry_in=60, error="451 4.7.1 Greylisted <b@example.com>"
    )


@pytest.mark.parametrize("attempts_made", [5, 6, 50])
def test_transient_failure_after_the_schedule_fails_into_the_dlq(attempts_made: int) -> None:
    outcome = smtp(stage="network", network_error="connection refused")
    decision = decide(outcome, attempts_made, SCHEDULE)
    assert (decision.kind, decision.retry_in, decision.dlq) == ("failed", None, True)
    assert decision.error == "network error: connection refused (at NETWORK)"


def test_empty_schedule_means_a_single_attempt() -> None:
    decision = decide(smtp(stage="timeout"), 1, ())
    assert (decision.kind, decision.dlq) == ("failed", True)


def test_5xx_at_data_fails_without_dlq_and_keeps_the_reply() -> None:
    outcome = smtp(stage="data", code=554, enhanced_code="5.6.0", message="Message rejected")
    assert decide(outcome, 1, SCHEDULE) == Decision(
        kind="failed", error="554 5.6.0 Message rejected (at DATA)"
    )


def test_auth_failure_fails_permanently() -> None:
    outcome = smtp(stage="auth", code=535, enhanced_code="5.7.8", message="Bad credentials")
    assert decide(outcome, 1, SCHEDULE) == Decision(
        kind="failed", error="535 5.7.8 Bad credentials (at AUTH)"
    )


def test_every_recipient_refused_with_5xx_bounces_them_all() -> None:
    outcome = smtp(stage="rcpt", rejected=(R550_A, R551_B))
    assert decide(outcome, 1, SCHEDULE) == Decision(
        kind="bounced",
        error="550 5.1.1 User unknown <a@example.com>; 551 5.1.6 Moved <b@example.com>",
        bounced=(R550_A, R551_B),
    )


def test_some_recipients_refused_with_5xx_is_sent_with_those_bounced() -> None:
    outcome = smtp(accepted=(A,), rejected=(R551_B,), code=250)
    assert decide(outcome, 1, SCHEDULE) == Decision(kind="sent", bounced=(R551_B,))


def test_4xx_recipient_of_a_message_sent_to_others_is_reported_not_retried() -> None:
    outcome = smtp(accepted=(A,), rejected=(R451_B,), code=250)
    decision = decide(outcome, 1, SCHEDULE)
    assert (decision.kind, decision.bounced) == ("sent", ())
    assert decision.error == "not retried: 451 4.7.1 Greylisted <b@example.com>"


def test_clean_send_is_sent_with_no_error() -> None:
    assert decide(SENT, 3, SCHEDULE) == Decision(kind="sent")


def test_attempts_made_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        decide(SENT, 0, SCHEDULE)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (smtp(stage="data", code=554, message="Rejected"), "554 Rejected (at DATA)"),
        (smtp(stage="timeout"), "timed out"),
        (smtp(stage="data"), "no reply (at DATA)"),
        (smtp(stage="connect", network_error="refused"), "network error: refused (at CONNECT)"),
        (SENT, "250 2.0.0 Ok: queued"),
    ],
)
def test_describe_renders_the_server_reply(outcome: SendOutcome, expected: str) -> None:
    assert describe(outcome) == expected


@pytest.mark.parametrize(
    ("values", "valid"),
    [
        ([60, 300, 900, 3600], True),
        ((1,), True),
        ([], True),
        ([60, 0], False),
        ([-1], False),
        ([1.5], False),
        ([True], False),
        (["60"], False),
        ("60", False),
        (None, False),
        (60, False),
    ],
)
def test_validate_schedule_accepts_lists_of_positive_ints(values: object, valid: bool) -> None:
    assert validate_schedule(values) is valid
