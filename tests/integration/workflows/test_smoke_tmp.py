import pytest
from tests.integration.workflows.conftest import Env, batch_body
from tests.support.waiting import wait_until

async def test_smoke(env: Env) -> None:
    recips = [{"to": [f"u{i}@example.org"], "variables": {"name": f"N{i}"}} for i in range(5)]
    resp = await env.http.post("/v1/messages/batch", json=batch_body(recips))
    assert resp.status_code == 202, resp.text
    b = resp.json()
    print(b)
    await wait_until(lambda: len(env.sink.received) == 5, timeout=15)
    r = await env.http.get(f"/v1/batches/{b['batchId']}")
    print(r.json())
    r = await env.http.get(f"/v1/batches/{b['batchId']}/messages?limit=2")
    print(r.status_code, r.json()["nextCursor"], len(r.json()["data"]))
    r = await env.http.get("/v1/queues")
    print(r.json())
    q = await env.queue("bulk", priority=2, ratePerMinute=100)
    r = await env.http.get(f"/v1/queues/{q['id']}/stats")
    print(r.json())
    r = await env.http.get(f"/v1/queues")
    qd = [x for x in r.json()["data"] if x["name"]=="default"][0]
    r = await env.http.get(f"/v1/queues/{qd['id']}/stats")
    print(r.json())
