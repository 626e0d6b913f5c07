"""Store verbs of SMTP submission over every backend: a message's origin, its raw MIME (loaded for
sending, never listed), and the tenant-scoped outbox (list with filters, clear)."""

import pytest

from iep_appliance.clock import FakeClock
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.outbox import OutboxFilter
from iep_appliance.store.base import Store
from tests.contract.test_store import accept

pytestmark = pytest.mark.asyncio


async def test_origin_and_raw_mime_round_trip(
    store: Store, tenant: Tenant, clock: FakeClock
) -> None:
    raw = b"From: a@example.com\r\n\r\nbody\r\n"
    mid = await accept(
        store,
        tenant,
        clock,
        origin="smtp",
        origin_client="127.0.0.1",
        origin_user="app",
        raw_mime=raw,
    )
    record = await store.get_message(tenant.id, mid)
    assert record is not None
    assert (record.origin, record.origin_client, record.origin_user) == ("smtp", "127.0.0.1", "app")
    assert record.kind == "raw_mime"
    assert record.raw_mime is None  # reads do not carry the MIME
    loaded = await store.load_for_send([mid])
    assert loaded[mid].raw_mime == raw


async def test_a_structured_message_is_api_origin_without_raw(
    store: Store,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    mid = await accept(store, tenant, clock)
    loaded = (await store.load_for_send([mid]))[mid]
    assert (loaded.origin, loaded.kind, loaded.raw_mime) == ("api", "structured", None)


async def test_outbox_is_tenant_scoped_filtered_and_cleared(
    store: Store,
    tenant: Tenant,
    other: Tenant,
    clock: FakeClock,
) -> None:
    mine = await accept(store, tenant, clock, subject="Invoice 1")
    theirs = await accept(store, other, clock, subject="Invoice 2")
    await store.save_outbox(tenant.id, mine, b"mime-1")
    await store.save_outbox(other.id, theirs, b"mime-2")
    listed = await store.tenant_outbox(tenant.id, OutboxFilter())
    assert [e.message_id for e in listed] == [mine]
    assert listed[0].subject == "Invoice 1" and listed[0].size_bytes == 6
    assert await store.tenant_outbox(tenant.id, OutboxFilter(subject="nope")) == []
    assert await store.get_outbox(tenant.id, theirs) is None
    assert await store.clear_outbox(tenant.id) == 1
    assert await store.tenant_outbox(tenant.id, OutboxFilter()) == []
    assert await store.get_outbox(other.id, theirs) == b"mime-2"
