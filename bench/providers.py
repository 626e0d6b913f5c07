"""Providers benchmark: messages/s through the `ses` provider into moto's server vs
raw httpx POSTs of the same requests to it, and provider events/s through `/webhooks/ses`.

In one run:
  (a) raw: N pre-built SES v2 SendEmail requests (body and SigV4 headers made once, before the
      clock starts) POSTed with one httpx AsyncClient (same pool size) — the floor: what the
      HTTP exchange with moto costs;
  (b) provider: the same N messages through `SesProvider.send` (request built from the MIME,
      SigV4-signed by botocore per request, answer read into a SendOutcome);
  (c) events: N SES `Delivery` notifications, each SNS-signed (RSA, SignatureVersion 2) for a
      seeded sent message, POSTed to `/webhooks/ses` of a started Runtime over ASGI (certificate
      fetched once and cached); each verified, deduplicated, and its effects committed.
moto runs as its own process (`python -m moto.server`) so that it does not share this
process's GIL; requests go `--concurrency` at a time.

    python -m bench.providers              # n=1000, concurrency 16
    python -m bench.providers --n 300
"""

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx

from bench.inbound import seed_messages
from iep_appliance.app import build_app
from iep_appliance.config import parse
from iep_appliance.config_http_providers import SesProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.ses import SesProvider
from iep_appliance.runtime import Runtime
from tests.support.fake_apis import FileServer
from tests.support.signed_events import SnsSigner, ses_event

KEY_ID, SECRET = "AKIDBENCH", "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/moto-api/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("moto server did not start")


def mime(i: int) -> bytes:
    return (
        f"From: Bench <bench@example.com>\r\nTo: user{i}@example.org\r\nSubject: bench {i}\r\n"
        f"X-IEP-Message-Id: m{i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
        + "hello world " * 200
        + "\r\n"
    ).encode()


async def gather_limited(n: int, concurrency: int, one: object) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def bench_send(url: str, n: int, concurrency: int) -> tuple[float, float]:
    cfg = SesProviderConfig(endpoint_url=url, access_key_id=KEY_ID, secret_access_key=SECRET,
                            connections=concurrency)  # fmt: skip
    envelopes = [Envelope("b@example.com", (f"user{i}@example.org",), f"m{i}") for i in range(n)]
    mimes = [mime(i) for i in range(n)]
    builder = SesProvider("ses", cfg)
    prebuilt = [builder.request(envelopes[i], mimes[i]) for i in range(n)]
    await builder.aclose()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as raw:
        bad: list[int] = []

        async def post(i: int) -> None:
            r = prebuilt[i]
            resp = await raw.post(str(r.url), content=r.content, headers=dict(r.headers))
            if resp.status_code != 200:
                bad.append(resp.status_code)

        raw_s = await gather_limited(n, concurrency, post)
        assert not bad, bad[:3]
    provider = SesProvider("ses", cfg)
    failed: list[str] = []

    async def send(i: int) -> None:
        outcome = await provider.send(envelopes[i], mimes[i])
        if not outcome.ok:
            failed.append(outcome.message)

    provider_s = await gather_limited(n, concurrency, send)
    await provider.aclose()
    assert not failed, failed[:3]
    return n / raw_s, n / provider_s


async def bench_events(n: int, concurrency: int) -> float:
    signer = SnsSigner()
    certs = FileServer({"/cert.pem": signer.cert_pem}).start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse(
            {"storage": {"path": "data/iep.db", "attachments_dir": "data/att"},
             "providers": {"outbox": {"type": "outbox"},
                           "ses": {"type": "ses", "endpoint_url": "http://127.0.0.1:9",
                                   "sns_cert_url_pattern": "^" + re.escape(certs.url) + "/"}},
             "logging": {"access_log": False, "level": "WARNING"}},
            Path(tmp),
            {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET},
        )  # fmt: skip
        rt = Runtime(cfg, deliver=False)
        await rt.start()
        await rt.stop()
        seeded = seed_messages(Path(tmp) / "data" / "iep.db", n)
        rt = Runtime(cfg, deliver=False)
        await rt.start()
        cert_url = certs.url + "/cert.pem"
        bodies = [
            json.dumps(signer.notification(ses_event("Delivery", mid, rcpt), cert_url)).encode()
            for mid, rcpt in seeded
        ]
        applied: list[int] = []
        try:
            transport = httpx.ASGITransport(app=build_app(rt))
            async with httpx.AsyncClient(transport=transport, base_url="http://iep") as client:

                async def post(i: int) -> None:
                    r = await client.post("/webhooks/ses", content=bodies[i])
                    assert r.status_code == 200, r.text
                    applied.append(r.json()["applied"])

                seconds = await gather_limited(n, concurrency, post)
        finally:
            await rt.stop()
            certs.stop()
        assert sum(applied) == n, sum(applied)
        return n / seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    proc, url = start_moto()
    try:
        boto3.client("sesv2", region_name="us-east-1", endpoint_url=url,
                     aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
                     ).create_email_identity(EmailIdentity="bench@example.com")  # fmt: skip
        raw, provider = await bench_send(url, args.n, args.concurrency)
    finally:
        proc.terminate()
        proc.wait(10)
    events = await bench_events(args.n, args.concurrency)
    load = os.getloadavg()[0]
    print(f"n={args.n} concurrency={args.concurrency} load={load:.1f}")
    print(f"raw httpx POSTs to moto     {raw:8.0f} msg/s")
    print(f"ses provider into moto      {provider:8.0f} msg/s   ratio {provider / raw:.2f}")
    print(f"/webhooks/ses events        {events:8.0f} events/s")


if __name__ == "__main__":
    asyncio.run(main())
