"""A real PostgreSQL for the store's conformance suite and the cluster tests.

The server is named by `IEP_TEST_DATABASE_URL` (`.ci/run` starts one when none runs and sets
it); unset, it is the machine's own `postgresql://postgres@127.0.0.1:5432/test`. Without a server
the PostgreSQL half of the suite fails rather than skips: a backend not tested is not supported.
Each test gets a schema of its own (`fresh_schema`), dropped afterwards, so tests on xdist
workers share one database without seeing each other's rows.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ENV = "IEP_TEST_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def database_url() -> str:
    return os.environ.get(ENV, "") or DEFAULT_URL


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """(url, schema): a new empty schema on the test server, dropped on exit."""
    url = database_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {ENV}={url}: {exc}")
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
