"""Pytest fixtures for the real test parts: an SMTP sink and a webhook receiver per test.

Loaded from tests/conftest.py through `pytest_plugins`; each fixture starts its server on
127.0.0.1 at a free port and stops it in teardown.
"""

from collections.abc import Iterator

import pytest

from tests.support.dns_server import DnsServer
from tests.support.smtp_sink import SmtpSink
from tests.support.webhook_sink import WebhookSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A started, unscripted SmtpSink (accepts everything); script it inside the test."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A started WebhookSink answering 200 until scripted with `sink.script(500, ...)`."""
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A started DnsServer on 127.0.0.1 (empty zone: every name is NXDOMAIN until `set`)."""
    with DnsServer() as server:
        yield server
