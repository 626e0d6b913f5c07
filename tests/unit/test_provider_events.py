"""Provider events read into one shape and their effects (domain.provider_events):
the same classification as inbound bounces (RFC 3463 class, strikes), only the message's own
recipients, and delivered/opened/clicked as effects of their own."""

from iep_appliance.domain.provider_events import (
    effects_of,
    mailgun_events,
    sendgrid_events,
    ses_events,
)

MID = "01890000-0000-7000-8000-000000000001"
RCPTS = ("ada@example.org", "bob@example.org")


def ses(kind: str, **body: object) -> dict:
    return {"eventType": kind, "mail": {"messageId": "ses-1", "destination": ["ada@example.org"],
            "tags": {"iep_message_id": [MID]}}, **body}  # fmt: skip


def test_ses_permanent_bounce_is_hard_and_transient_soft() -> None:
    hard = ses("Bounce", bounce={"bounceType": "Permanent", "bouncedRecipients": [
        {"emailAddress": "Ada@Example.org", "status": "5.1.1"}]})  # fmt: skip
    [e] = ses_events("sns-1", hard)
    assert (e.kind, e.message_id, e.provider_message_id) == ("bounced", MID, "ses-1")
    [effect] = effects_of(e, "ses", "t1", MID, RCPTS, 3)
    assert (effect.kind, effect.strikes, effect.webhook) == ("hard", 1, "message.bounced")
    assert effect.detail == {"provider": "ses", "providerEventId": "sns-1"}
    soft = ses("Bounce", bounce={"bounceType": "Transient", "bouncedRecipients": [
        {"emailAddress": "ada@example.org", "status": "5.2.2"}]})  # fmt: skip
    [effect] = effects_of(ses_events("sns-2", soft)[0], "ses", "t1", MID, RCPTS, 3)
    assert (effect.kind, effect.strikes) == ("soft", 0)


def test_ses_header_names_the_message_when_no_tag() -> None:
    event = {"notificationType": "Delivery", "mail": {"headers": [
        {"name": "X-IEP-Message-Id", "value": MID}]}, "delivery": {"recipients": ["bob@example.org"]}}  # fmt: skip  # noqa: E501
    [e] = ses_events("sns-3", event)
    assert e.message_id == MID and e.kind == "delivered"
    [effect] = effects_of(e, "ses", "t1", MID, RCPTS, 3)
    assert (effect.kind, effect.recipient, effect.webhook) == (
        "delivered", "bob@example.org", "message.delivered")  # fmt: skip


def test_a_recipient_the_message_was_not_sent_to_changes_nothing() -> None:
    event = ses("Complaint", complaint={"complainedRecipients": [
        {"emailAddress": "stranger@example.net"}]})  # fmt: skip
    assert effects_of(ses_events("sns-4", event)[0], "ses", "t1", MID, RCPTS, 3) == []


def test_ses_click_carries_the_link() -> None:
    [e] = ses_events("sns-5", ses("Click", click={"link": "https://example.com/a"}))
    [effect] = effects_of(e, "ses", "t1", MID, RCPTS, 3)
    assert effect.kind == "clicked" and effect.detail["url"] == "https://example.com/a"


def test_sendgrid_kinds() -> None:
    base = {"email": "ada@example.org", "iep_message_id": MID}
    found = sendgrid_events([
        {**base, "event": "dropped", "sg_event_id": "1", "reason": "Bounced Address"},
        {**base, "event": "bounce", "type": "blocked", "sg_event_id": "2",
         "reason": "550 5.1.1 spam"},
        {**base, "event": "spamreport", "sg_event_id": "3"},
        {**base, "event": "open", "sg_event_id": "4"},
        {**base, "event": "processed", "sg_event_id": "5"},
        {**base, "event": "delivered"},  # no event id: skipped
        "not an object",
    ])  # fmt: skip
    assert [e.kind for e in found] == ["bounced", "bounced", "complained", "opened", "other"]
    kinds = [effects_of(e, "sg", "t1", MID, RCPTS, 3) for e in found]
    assert [k[0].kind for k in kinds[:4]] == ["policy", "policy", "complaint", "opened"]
    assert kinds[4] == []


def test_mailgun_temporary_failure_is_soft() -> None:
    data = {"id": "ev", "event": "failed", "severity": "temporary", "recipient": "bob@example.org",
            "user-variables": {"iep_message_id": MID},
            "delivery-status": {"message": "5.2.2 mailbox full"}}  # fmt: skip
    [e] = mailgun_events(data)
    [effect] = effects_of(e, "mg", "t1", MID, RCPTS, 3)
    assert (effect.kind, effect.status) == ("soft", "4.2.2")
    assert mailgun_events({"event": "delivered"}) == []  # no id
