"""The SMTP edge's own rules as tables: which peers may AUTH without TLS, which
reply each domain error gets, and how failed AUTH is slowed. The wire behaviour is in
tests/e2e/test_submission_e2e.py against the real process."""

import pytest

from iep_appliance.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    SenderNotAllowed,
    Unauthorized,
    ValidationFailed,
)
from iep_appliance.submission.handler import AuthThrottle, reply_for
from iep_appliance.submission.protocol import is_loopback


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        (("127.0.0.1", 5000), True),
        (("127.8.9.1", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("10.0.0.5", 5000), False),
        (("192.168.1.2", 25), False),
        (("2001:db8::1", 25, 0, 0), False),
        ("not an address", False),
        (None, False),
    ],
)
def test_auth_without_tls_only_from_loopback(peer: object, loopback: bool) -> None:
    assert is_loopback(peer) is loopback


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (RateLimited(retry_after=7), "452 4.7.1"),
        (PayloadTooLarge([FieldError("attachments", "too big")]), "552 5.3.4"),
        (SenderNotAllowed("other.net"), "554 5.7.1"),
        (ValidationFailed([FieldError("smtputf8", "x")]), "554 5.6.7"),
        (ValidationFailed([FieldError("mime", "bare LF")]), "554 5.6.0"),
        (ValidationFailed([FieldError("from", "missing")]), "554 5.6.0"),
        (ValidationFailed([FieldError("attachments[0].contentType", "no")]), "554 5.7.1"),
        (Unauthorized("API key expired"), "535 5.7.8"),
        (Forbidden("lacks send"), "554 5.7.1"),
        (Conflict("key reused"), "554 5.7.0"),
        (RuntimeError("bug"), "451 4.3.0"),
    ],
)
def test_each_domain_error_has_its_smtp_reply(error: Exception, reply: str) -> None:
    assert reply_for(error).startswith(reply)


def test_failed_auth_waits_longer_each_time_and_forgets_after_success() -> None:
    throttle = AuthThrottle()
    delays = [throttle.failed("10.0.0.5", now=100.0 + i)[1] for i in range(7)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert throttle.failed("10.0.0.6", now=100.0) == (1, 0.0)  # per client address
    throttle.succeeded("10.0.0.5")
    assert throttle.failed("10.0.0.5", now=200.0) == (1, 0.0)
    assert throttle.failed("10.0.0.5", now=2000.0) == (1, 0.0)  # forgotten after 15 minutes
