"""Suite-wide fixtures live in tests/support/fixtures.py (sinks, and later the real process)."""

pytest_plugins = ["tests.support.fixtures"]


def pytest_sessionfinish(session, exitstatus) -> None:
    """IEP_TEST_BACKEND=postgresql: drop the schemas this process's configs were given."""
    from tests.support.procs import drop_test_schemas

    drop_test_schemas()
