"""Suite-wide fixtures live in tests/support/fixtures.py (sinks, and later the real process)."""

pytest_plugins = ["tests.support.fixtures"]
