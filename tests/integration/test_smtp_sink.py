"""The scriptable SMTP sink answers as told, drops the line on demand and records messages."""

import time
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until, wait_until_sync

SENDER = "noreply@product.test"


def make_message(to: list[str], iep_id: str = "msg_1", subject: str = "Hello") -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["X-IEP-Message-Id"] = iep_id
    message.set_content("Hi there.\n")
    return message.as_bytes()


async def send(sink: SmtpSink, to: list[str], iep_id: str = "msg_1", subject: str = "Hello"):
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, timeout=10) as client:
        return await client.sendmail(SENDER, to, make_message(to, iep_id, subject))


async def test_accepts_and_records_a_parsed_message_by_default(smtp_sink: SmtpSink) -> None:
    errors, _ = await send(smtp_sink, ["ada@example.test"], subject="Grüße")

    assert errors == {}
    [received] = await wait_until(lambda: smtp_sink.received)
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ("ada@example.test",)
    assert received.parsed["Subject"] == "Grüße"
    assert received.parsed.get_content() == "Hi there.\n"
    assert b"X-IEP-Message-Id: msg_1" in received.data


async def test_451_twice_then_accept_consumes_one_reply_per_attempt(smtp_sink: SmtpSink) -> None:
    smtp_sink.script_rcpt("ada@example.test", "451 4.3.0 try later", "451 4.3.0 try later", None)

    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(smtp_sink, ["ada@example.test"])
        [error] = refused.value.recipients
        assert (error.code, error.message) == (451, "4.3.0 try later")
    errors, _ = await send(smtp_sink, ["ada@example.test"])

    assert errors == {}
    assert smtp_sink.rcpt_attempts("ada@example.test") == 3
    assert len(smtp_sink.received) == 1


async def test_550_for_one_of_two_recipients_delivers_to_the_other(smtp_sink: SmtpSink) -> None:
    smtp_sink.script_rcpt("gone@example.test", "550 5.1.1 no such user")

    errors, _ = await send(smtp_sink, ["ada@example.test", "gone@example.test"])

    assert errors["gone@example.test"].code == 550
    [received] = smtp_sink.received
    assert received.rcpt_tos == ("ada@example.test",)


async def test_rcpt_rule_answers_by_address_and_attempt(smtp_sink: SmtpSink) -> None:
    smtp_sink.set_rcpt_rule(
        lambda address, attempt: "452 4.2.2 mailbox full" if attempt == 1 else None
    )

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(smtp_sink, ["ada@example.test"])
    await send(smtp_sink, ["ada@example.test"])

    assert len(smtp_sink.received) == 1


async def test_drop_at_rcpt_disconnects_the_client_then_serves_again(smtp_sink: SmtpSink) -> None:
    smtp_sink.drop_line(at="rcpt", times=1)

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await send(smtp_sink, ["ada@example.test"])
    await send(smtp_sink, ["ada@example.test"])

    assert smtp_sink.dropped == 1
    assert len(smtp_sink.received) == 1


async def test_drop_at_data_loses_the_message_after_it_was_sent(smtp_sink: SmtpSink) -> None:
    smtp_sink.drop_line(at="data", times=2)

    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await send(smtp_sink, ["ada@example.test"])

    assert smtp_sink.received == []
    assert smtp_sink.data_attempts == 2


async def test_drop_at_mail_disconnects_before_any_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.drop_line(at="mail")

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await send(smtp_sink, ["ada@example.test"])

    assert smtp_sink.rcpt_attempts("ada@example.test") == 0


async def test_554_at_data_rejects_the_message(smtp_sink: SmtpSink) -> None:
    smtp_sink.script_data("554 5.6.0 rejected")

    with pytest.raises(aiosmtplib.SMTPDataError) as rejected:
        await send(smtp_sink, ["ada@example.test"])
    await send(smtp_sink, ["ada@example.test"], iep_id="msg_2")

    assert rejected.value.code == 554
    assert smtp_sink.by_iep_id() == {"msg_2": 1}


async def test_data_rule_sees_the_message_bytes(smtp_sink: SmtpSink) -> None:
    smtp_sink.set_data_rule(
        lambda mail_from, rcpt_tos, data: "451 4.7.1 greylisted" if b"msg_grey" in data else None
    )

    with pytest.raises(aiosmtplib.SMTPDataError):
        await send(smtp_sink, ["ada@example.test"], iep_id="msg_grey")
    await send(smtp_sink, ["ada@example.test"], iep_id="msg_ok")

    assert smtp_sink.by_iep_id() == {"msg_ok": 1}


async def test_by_iep_id_counts_duplicates(smtp_sink: SmtpSink) -> None:
    for iep_id in ("msg_a", "msg_b", "msg_a"):
        await send(smtp_sink, ["ada@example.test"], iep_id=iep_id)

    assert smtp_sink.by_iep_id() == {"msg_a": 2, "msg_b": 1}


async def test_delay_holds_each_message_at_least_that_long(smtp_sink: SmtpSink) -> None:
    smtp_sink.set_delay(0.2)

    started = time.monotonic()
    await send(smtp_sink, ["ada@example.test"])

    assert time.monotonic() - started >= 0.2


async def test_reset_forgets_messages_and_scripts(smtp_sink: SmtpSink) -> None:
    smtp_sink.script_rcpt("ada@example.test", "550 5.1.1 no")
    smtp_sink.script_data("554 5.6.0 no")
    with pytest.raises(aiosmtplib.SMTPDataError):
        await send(smtp_sink, ["bob@example.test"])

    smtp_sink.reset()
    await send(smtp_sink, ["ada@example.test"])

    assert [r.rcpt_tos for r in smtp_sink.received] == [("ada@example.test",)]
    assert smtp_sink.rcpt_attempts("bob@example.test") == 0


def test_sink_works_from_sync_code_and_frees_its_port() -> None:
    import smtplib

    with SmtpSink(rcpt_replies={"ada@example.test": ["450 4.2.0 busy"]}) as sink:
        port = sink.port
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail(
                SENDER, ["ada@example.test", "bob@example.test"], make_message(["x@y.test"])
            )
        assert refused == {"ada@example.test": (450, b"4.2.0 busy")}
        wait_until_sync(lambda: len(sink.received) == 1, timeout=5)
        assert sink._controller is not None and sink._controller.server is not None
        listeners = list(sink._controller.server.sockets)
        assert listeners and all(s.fileno() != -1 for s in listeners)

    # Closed listening sockets free the port. (Re-binding the port would race with other
    # xdist workers, which may be handed the same ephemeral port the moment it is free.)
    assert all(s.fileno() == -1 for s in listeners)
    with pytest.raises(RuntimeError, match="not started"):
        _ = sink.port


async def test_wait_until_returns_the_truthy_value_and_accepts_async_predicates() -> None:
    calls = []

    async def ready() -> list[int]:
        calls.append(1)
        return calls if len(calls) >= 3 else []

    assert await wait_until(ready, timeout=5, interval=0) == [1, 1, 1]


async def test_wait_until_raises_with_the_message_on_timeout() -> None:
    with pytest.raises(AssertionError, match=r"three messages not met within 0\.05s"):
        await wait_until(lambda: 0, timeout=0.05, message="three messages")


def test_wait_until_sync_raises_with_the_message_on_timeout() -> None:
    with pytest.raises(AssertionError, match="sink empty"):
        wait_until_sync(lambda: None, timeout=0.05, message="sink empty")
