"""Every job ends (DESIGN §10.1): random exceptions from every step, random process deaths.

A real Runtime (SQLite file, FakeClock) accepts messages with attachments for a tenant with a
webhook endpoint (a real HTTP receiver answering 200 or 500). The test then drives the real
`DeliveryEngine.handle` and `WebhookDispatcher.run_one` by hand, round after round: claim what
is due, load it, handle each job, move the clock past every lease and retry. Faults come in
through the seams those objects are built with: a store whose verbs raise, a provider that
raises or answers 2xx/4xx/5xx, attachment blobs and a DKIM signer that raise, an address guard
that raises, and "process deaths" (a claimed job dropped, its lease left to expire).

The property, for several seeds: every send and webhook job ends `done` or `dead` within the
schedule's attempts plus one claim (the one that finds the last attempt never finished), and
every message ends in a final status. The last-resort write (`Store.fail_job`) is kept free of
faults: if the store cannot commit at all, no job can end (that is /ready's business).

On main before the fix: a send that raised was released with its attempt given back and
claimed again at once, for ever (the loop below ran out of rounds), and a webhook that raised
or a job whose process died came back after each lease without end.
"""

import base64
import random
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from iep_appliance.app import build_app
from iep_appliance.clock import FakeClock
from iep_appliance.config import parse
from iep_appliance.delivery.engine import DeliveryEngine
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.domain.outcomes import SendOutcome
from iep_appliance.runtime import Runtime
from iep_appliance.webhooks.dispatcher import WebhookDispatcher
from iep_appliance.webhooks.guard import Guard, Target
from tests.support.webhook_sink import WebhookSink

SCHEDULE = [5, 10, 20]
WEBHOOK_SCHEDULE = [5, 10]
LEASE = timedelta(seconds=60)
MESSAGES = 24
MAX_ROUNDS = 60
FAULT_RATE = 0.12
KILL_RATE = 0.08
ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    KeyError,
    ValueError,
    TypeError,
    ZeroDivisionError,
    AssertionError,
    RecursionError,
    sqlite3.OperationalError,
)
# The steps of the two pipelines that a fault can hit, by the seam that raises.
STORE_STEPS = (
    "load_for_send",
    "suppressed_among",
    "get_tenant",
    "finish_sends",
    "get_webhook",
    "record_webhook_attempt",
)
OTHER_STEPS = ("provider.send", "blobs.get", "signer", "guard.target")


class Faults:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.hits: Counter[str] = Counter()

    def maybe(self, step: str) -> None:
        if self.rng.random() < FAULT_RATE:
            self.hits[step] += 1
            raise self.rng.choice(ERRORS)(f"injected at {step}")


class FaultyStore:
    """The real store; the listed verbs raise now and then before doing their work."""

    def __init__(self, real: Any, faults: Faults) -> None:
        self._real = real
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in STORE_STEPS:
            return attr

        async def verb(*args: Any, **kwargs: Any) -> Any:
            self._faults.maybe(name)
            return await attr(*args, **kwargs)

        return verb


class FaultyProvider:
    name = "relay"
    kind = "smtp"

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    async def send(self, envelope: Envelope, mime: bytes) -> SendOutcome:
        self.faults.maybe("provider.send")
        roll = self.faults.rng.random()
        if roll < 0.5:
            return SendOutcome(provider=self.name, accepted=envelope.rcpt_to, code=250)
        if roll < 0.85:
            return SendOutcome(provider=self.name, code=451, message="later", stage="data")
        return SendOutcome(provider=self.name, code=554, message="no", stage="data")

    async def check_health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class FaultyBlobs:
    def __init__(self, real: Any, faults: Faults) -> None:
        self.real = real
        self.faults = faults

    def get(self, key: str) -> bytes:
        self.faults.maybe("blobs.get")
        return self.real.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class FaultyGuard(Guard):
    def __init__(self, faults: Faults) -> None:
        super().__init__(allow_private_networks=True)
        self.faults = faults

    async def target(self, url: str) -> Target:
        self.faults.maybe("guard.target")
        return await super().target(url)


def config(tmp_path: Path) -> Any:
    return parse(
        {
            "server": {"port": 0},
            "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
            "delivery": {"retry_schedule": SCHEDULE, "lease_seconds": 60},
            "providers": {
                "relay": {"type": "smtp", "host": "127.0.0.1", "port": 9, "timeout_seconds": 1}
            },
            "routing": {"default_provider": "relay"},
            "webhooks": {
                "allow_private_networks": True,
                "retry_schedule": WEBHOOK_SCHEDULE,
                "timeout_seconds": 5,
            },
            "breaker": {"min_requests": 100_000},  # judged elsewhere; keep it out of the way
            "logging": {"access_log": False},
        },
        tmp_path,
    )


async def accept_messages(rt: Runtime, sink: WebhookSink, rng: random.Random) -> None:
    assert rt.first_start is not None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(rt)),
        base_url="http://testserver",
        headers={"x-api-key": rt.first_start.key},
    ) as client:
        resp = await client.post(
            "/v1/webhooks", json={"url": sink.url(), "events": ["message.sent", "message.failed"]}
        )
        assert resp.status_code == 201, resp.text
        for i in range(MESSAGES):
            body: dict[str, Any] = {
                "to": [f"user{i}@example.org"],
                "from": {"email": "noreply@example.com"},
                "subject": "Hello {{name}}",
                "htmlBody": "<p>Hello {{name}}</p>",
                "variables": {"name": f"n{i}"},
            }
            if rng.random() < 0.5:
                content = base64.b64encode(b"%PDF-1.4 " + bytes([i])).decode()
                body["attachments"] = [
                    {"filename": "a.pdf", "contentType": "application/pdf", "content": content}
                ]
            resp = await client.post("/v1/messages", json=body)
            assert resp.status_code == 202, resp.text


def job_rows(db: Path) -> list[tuple[int, str, str, int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, kind, state, attempts, max_attempts FROM jobs ORDER BY id"
        ).fetchall()


def message_statuses(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(s for (s,) in conn.execute("SELECT status FROM messages"))


def limit_of(kind: str, max_attempts: int) -> int:
    """The attempts a job may spend: a send's from the schedule, a webhook's from its row."""
    return len(SCHEDULE) + 1 if kind == "send" else max_attempts


def engine_of(rt: Runtime, store: Any = None) -> DeliveryEngine:
    """A delivery engine over the runtime's parts, as the wiring builds it (`store`: a seam)."""
    s = rt.services
    return DeliveryEngine(
        store if store is not None else s.store,
        s.clock,
        s.blobs,
        s.metrics,
        rt.config,
        signer_for=s.dkim_keys.signer_for,
        return_path=s.return_path,
        unsubscribe_headers=s.unsubscribe_headers,
        held=s.reputation.is_held,
    )


async def run_seed(tmp_path: Path, seed: int) -> Counter[str]:
    """One seeded run; asserts the property and returns which steps the faults hit."""
    rng = random.Random(seed)
    faults = Faults(rng)
    clock = FakeClock()
    rt = Runtime(config(tmp_path), clock=clock, deliver=False)
    await rt.start()
    real = rt.services.store
    db = Path(real.db.path)
    claims: Counter[int] = Counter()
    late_deaths: Counter[int] = Counter()
    with WebhookSink(default_status=200) as sink:
        sink.script(*[rng.choice([200, 500]) for _ in range(400)])
        dispatcher = WebhookDispatcher(
            FaultyStore(real, faults),
            clock,
            rt.config.webhooks,
            rt.services.metrics,
            FaultyGuard(faults),
            reveal=rt.services.webhooks.secrets.reveal,
        )
        await dispatcher.start()
        engine = engine_of(rt, FaultyStore(real, faults))  # the seam the engine is built from
        try:
            await accept_messages(rt, sink, rng)
            engine.providers["relay"] = FaultyProvider(faults)  # the router's own dict

            def sign(mime: bytes) -> bytes:
                faults.maybe("signer")
                return mime

            async def signer_for(_from_email: str) -> Callable[[bytes], bytes]:
                return sign  # the DKIM seam: a signer for every sender domain

            engine.ctx = msgspec.structs.replace(
                engine.ctx,
                blobs=FaultyBlobs(rt.services.blobs, faults),
                signer=sign,
                signer_for=signer_for,
            )
            engine.handlers["webhook"] = dispatcher.run_one  # run it here, not on a worker
            for _ in range(MAX_ROUNDS):
                jobs = await real.claim_due(clock.now(), 200, LEASE)
                claims.update(j.id for j in jobs)
                for item in await engine.load_claimed(jobs):
                    if rng.random() < KILL_RATE:
                        # the process died mid-attempt: the lease is left to expire. A death
                        # in the claim that only records "gave up" costs one claim more.
                        if item.job.attempts > limit_of(item.job.kind, item.job.max_attempts):
                            late_deaths[item.job.id] += 1
                        continue
                    await engine.handle(item)
                if {row[2] for row in job_rows(db)} <= {"done", "dead"}:
                    break
                clock.advance(LEASE.total_seconds() + 1)  # past every lease and every retry
                await real.release_expired_leases(clock.now())
        finally:
            await dispatcher.stop(1.0)
            await engine.stop(1.0)
            await rt.stop()

    rows = job_rows(db)
    kinds = Counter(kind for _, kind, _, _, _ in rows)
    assert kinds["send"] == MESSAGES and kinds["webhook"] > 0, (seed, kinds)
    unfinished = [r for r in rows if r[2] not in ("done", "dead")]
    assert not unfinished, f"seed {seed}: jobs that never ended: {unfinished}"
    for job_id, kind, _state, _attempts, max_attempts in rows:
        allowed = limit_of(kind, max_attempts) + 1 + late_deaths[job_id]
        assert claims[job_id] <= allowed, (seed, job_id, kind, claims[job_id], allowed)
    statuses = message_statuses(db)
    assert set(statuses) <= {"sent", "failed", "bounced"}, (seed, statuses)
    return faults.hits


async def test_every_job_ends_within_its_attempts_whatever_raises(tmp_path: Path) -> None:
    hits: Counter[str] = Counter()
    for seed in range(1, 7):
        hits.update(await run_seed(tmp_path / f"seed{seed}", seed))
    # The property only means something if the faults reached every step of both pipelines.
    assert set(hits) == {*STORE_STEPS, *OTHER_STEPS}, hits


async def test_a_message_whose_every_attempt_dies_ends_failed_in_the_dlq(tmp_path: Path) -> None:
    """The process dies during each attempt (the claim counts, nothing is recorded): after the
    schedule's attempts the next claim gives up instead of trying again."""
    clock = FakeClock()
    rt = Runtime(config(tmp_path), clock=clock, deliver=False)
    await rt.start()
    engine = engine_of(rt)
    try:
        with WebhookSink() as sink:
            await accept_messages(rt, sink, random.Random(0))
        jobs = []
        for _ in range(len(SCHEDULE) + 1):  # every attempt dies: claimed, never finished
            jobs = [j for j in await rt.services.store.claim_due(clock.now(), 200, LEASE)]
            assert len([j for j in jobs if j.kind == "send"]) == MESSAGES
            clock.advance(LEASE.total_seconds() + 1)
            await rt.services.store.release_expired_leases(clock.now())
        jobs = await rt.services.store.claim_due(clock.now(), 200, LEASE)
        assert {j.attempts for j in jobs} == {len(SCHEDULE) + 2}
        for item in await engine.load_claimed(jobs):
            await engine.handle(item)
        db = Path(rt.services.store.db.path)
        sends = [row for row in job_rows(db) if row[1] == "send"]
        assert {state for _, _, state, _, _ in sends} == {"dead"}
        assert message_statuses(db) == {"failed": MESSAGES}
        record = await rt.services.store.get_message(jobs[0].tenant_id, jobs[0].ref_id)
        assert record is not None
        assert record.last_error == "gave up after 4 attempts: the last one never finished"
        assert [e.type for e in record.events][-2:] == ["failed", "dlq"]
    finally:
        await engine.stop(1.0)
        await rt.stop()


class AlwaysFails(Faults):
    def maybe(self, step: str) -> None:
        if step == "get_webhook":
            self.hits[step] += 1
            raise KeyError("injected at get_webhook")


async def test_a_webhook_job_that_always_raises_is_dead_after_its_attempts(
    tmp_path: Path,
) -> None:
    """On main the crash left the lease to expire and the job came back after it, for ever."""
    clock = FakeClock()
    rt = Runtime(config(tmp_path), clock=clock, deliver=False)
    await rt.start()
    with WebhookSink() as sink:
        faults = AlwaysFails(random.Random(0))
        dispatcher = WebhookDispatcher(
            FaultyStore(rt.services.store, faults),
            clock,
            rt.config.webhooks,
            rt.services.metrics,
            Guard(True),
            reveal=rt.services.webhooks.secrets.reveal,
        )
        await dispatcher.start()
        engine = engine_of(rt)
        engine.handlers["webhook"] = dispatcher.run_one
        try:
            await accept_messages(rt, sink, random.Random(0))
            claims: Counter[int] = Counter()
            for _ in range(20):
                jobs = await rt.services.store.claim_due(clock.now(), 200, LEASE)
                claims.update(j.id for j in jobs if j.kind == "webhook")
                for item in await engine.load_claimed(jobs):
                    await engine.handle(item)
                clock.advance(LEASE.total_seconds() + 1)
            db = Path(rt.services.store.db.path)
            hooks = [row for row in job_rows(db) if row[1] == "webhook"]
            assert hooks, "no webhook job was created"
            assert {state for _, _, state, _, _ in hooks} == {"dead"}
            assert set(claims.values()) == {len(WEBHOOK_SCHEDULE) + 1}
            assert sink.requests == []
            with sqlite3.connect(db) as conn:
                errors = {
                    e for (e,) in conn.execute("SELECT last_error FROM jobs WHERE kind = 'webhook'")
                }
            assert errors == {"crashed: KeyError: 'injected at get_webhook'"}
        finally:
            await dispatcher.stop(1.0)
            await engine.stop(1.0)
            await rt.stop()
