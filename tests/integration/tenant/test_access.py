"""Every tenant-services endpoint needs the `admin` scope (a `send`/`read` key → 403) and a
key at all (→ 401)."""

from typing import Any

import pytest

from tests.integration.tenant.conftest import Appliance
from tests.support.problems import assert_problem

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/tenant", None),
    ("PATCH", "/v1/tenant", {"sandbox": True}),
    ("GET", "/v1/api-keys", None),
    ("POST", "/v1/api-keys", {"name": "x", "scopes": ["admin"]}),
    ("DELETE", "/v1/api-keys/019b0000-0000-7000-8000-000000000000", None),
    ("POST", "/v1/api-keys/019b0000-0000-7000-8000-000000000000/rotate", {"graceSeconds": 0}),
    ("GET", "/v1/domains", None),
    ("POST", "/v1/domains", {"domain": "example.net"}),
    ("DELETE", "/v1/domains/example.com", None),
    ("GET", "/v1/suppressions", None),
    ("POST", "/v1/suppressions", {"emails": ["a@example.org"]}),
    ("DELETE", "/v1/suppressions/a%40example.org", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_send_and_read_keys_are_forbidden(
    appliance: Appliance, method: str, path: str, body: Any
) -> None:
    await appliance.start(deliver=False)
    acme = await appliance.tenant("acme")
    limited = await appliance.key(acme, ("send", "read"))

    resp = await appliance.client.request(method, path, json=body, headers=limited.auth)

    assert_problem(resp, 403)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_requests_without_a_key_are_unauthorized(
    appliance: Appliance, method: str, path: str, body: Any
) -> None:
    await appliance.start(deliver=False)

    resp = await appliance.client.request(method, path, json=body)

    assert_problem(resp, 401)
