"""The OpenAPI document and its docs UI (DESIGN §10.1): every property of every component
schema has a description, and /schema/swagger names only assets the appliance serves itself
(the browser test, tests/e2e/test_docs_browser.py, loads it with the network cut off)."""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.runtime import Runtime


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    cfg = parse(
        {"storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"}}, tmp_path
    )
    app = build_app(Runtime(cfg, deliver=False))  # the schema needs no started store
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


async def test_every_property_of_every_component_schema_has_a_description(
    client: httpx.AsyncClient,
) -> None:
    schema: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]

    undescribed = [
        f"{name}.{prop}"
        for name, component in components.items()
        for prop, spec in (component.get("properties") or {}).items()
        if not str(spec.get("description") or "").strip()
    ]

    assert len(components) > 40  # the walk sees the API's schemas
    assert undescribed == [], "\n".join(undescribed)


async def test_the_docs_ui_loads_only_assets_the_appliance_serves(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/schema/swagger")).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)

    assert urls, html[:500]
    assert [u for u in urls if not (u.startswith("/") or u.startswith("data:"))] == []
    for url in (u for u in urls if u.startswith("/")):
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 10_000, url
    assert (await client.get("/schema/redoc")).status_code == 404  # no other docs UI
