"""Fixtures for the retention and backup tests: the in-process Appliance of the tenant
tests (a Runtime on a real SQLite file under tmp_path, FakeClock, httpx over ASGI), reused."""

from tests.integration.tenant.conftest import appliance  # noqa: F401 (a fixture, re-exported)
