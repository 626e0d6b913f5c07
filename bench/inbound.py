"""Inbound benchmark: DSNs per second parsed, and parsed + matched + recorded.

In one run, on one event loop (client and servers share it, so compare ratios):
  (a) parse only: `domain.bounces.parse_report` over N Postfix DSNs (the stdlib email parser);
  (b) transport reference: the same N DSNs over SMTP to a bare aiosmtpd server that keeps
      nothing (what the listener costs before IEP does any work);
  IEP: the same N DSNs over SMTP to the real inbound listener of a started Runtime (SQLite
      file, group commit): each parsed, matched to its message by the VERP token, and its
      effects (event, suppression, status bounced) committed before the 250.

    python -m bench.inbound                  # n=2000, 8 SMTP connections
    python -m bench.inbound --n 300 --connections 4
"""

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP

from iep_appliance.config import parse
from iep_appliance.domain import verp
from iep_appliance.domain.bounces import parse_report
from iep_appliance.runtime import Runtime

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bounces"
BOUNCE_DOMAIN = "bounces.bench.test"


def dsn(message_id: str, rcpt: str, return_path: str) -> bytes:
    text = (SAMPLE / "postfix_dsn_5.1.1.eml").read_text()
    text = text.replace("{RCPT}", rcpt).replace("{IEPID}", message_id)
    return text.replace("{VERP}", return_path).replace("\n", "\r\n").encode()


def seed_messages(db: Path, n: int) -> list[tuple[str, str]]:
    """N sent messages of the default tenant, straight into the table (not what is measured)."""
    conn = sqlite3.connect(db)
    with conn:
        tenant_id = conn.execute("SELECT id FROM tenants WHERE slug = 'default'").fetchone()[0]
        now = "2026-01-01T00:00:00.000Z"
        rows = [(str(uuid.uuid4()), f"user{i}@example.org") for i in range(n)]
        conn.executemany(
            "INSERT INTO messages (id, tenant_id, to_addrs, from_email, subject, html_body,"
            " status, max_attempts, created_at, updated_at) VALUES"
            " (?, ?, json_array(?), 'noreply@example.com', 's', 'h', 'sent', 5, ?, ?)",
            [(mid, tenant_id, rcpt, now, now) for mid, rcpt in rows],
        )
    conn.close()
    return rows


async def send_all(port: int, mails: list[tuple[str, bytes]], connections: int) -> float:
    """Deliver every (rcpt, data) with MAIL FROM:<>; seconds from first to last 250."""
    todo = iter(mails)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) as smtp:
            for rcpt, data in todo:
                await smtp.mail("")
                await smtp.rcpt(rcpt)
                await smtp.data(data)
                await smtp.rset()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


class _Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def run(n: int, connections: int) -> None:
    with tempfile.TemporaryDirectory(prefix="iep-bench-inbound-") as tmp:
        cfg = parse(
            {
                "storage": {"path": "data/iep.db", "attachments_dir": "data/attachments"},
                "inbound": {"enabled": True, "port": 0, "bounce_domain": BOUNCE_DOMAIN},
                "logging": {"level": "WARNING", "access_log": False},
            },
            Path(tmp),
        )
        rt = Runtime(cfg, deliver=False)
        await rt.start()
        try:
            rows = seed_messages(Path(cfg.storage.path), n)
            mails = []
            for message_id, rcpt in rows:
                address = verp.bounce_address(rt.bounce_key, message_id, BOUNCE_DOMAIN)
                mails.append((address, dsn(message_id, rcpt, address)))

            started = time.perf_counter()
            for _, data in mails:
                parse_report(data)
            parse_s = time.perf_counter() - started
            print(json.dumps({"what": "(a) parse only", "n": n, "per_s": round(n / parse_s, 1)}))

            loop = asyncio.get_running_loop()
            bare = await loop.create_server(lambda: SMTP(_Discard()), "127.0.0.1", 0)
            bare_port = bare.sockets[0].getsockname()[1]
            bare_s = await send_all(bare_port, mails, connections)
            bare.close()
            print(json.dumps({"what": "(b) bare aiosmtpd", "n": n, "per_s": round(n / bare_s, 1)}))

            iep_s = await send_all(rt.inbound_listener.port, mails, connections)
            conn = sqlite3.connect(cfg.storage.path)
            bounced = conn.execute("SELECT count(*) FROM messages WHERE status = 'bounced'")
            recorded = bounced.fetchone()[0]
            conn.close()
            print(
                json.dumps(
                    {"what": "IEP listener", "n": n, "recorded": recorded,
                     "per_s": round(n / iep_s, 1)}
                )
            )  # fmt: skip
        finally:
            await rt.stop()
    print()
    print(f"{'':40} {'DSNs/s':>9} {'vs (b)':>8}")
    print(f"{'(a) parse only':40} {n / parse_s:9.1f}")
    print(f"{'(b) bare aiosmtpd (transport)':40} {n / bare_s:9.1f} {1.0:7.2f}x")
    print(f"{'IEP: parse + match + record':40} {n / iep_s:9.1f} {bare_s / iep_s:7.2f}x")
    assert recorded == n, f"recorded {recorded} of {n}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IEP inbound (DSN) benchmark")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    opts = parser.parse_args(argv)
    asyncio.run(run(opts.n, opts.connections))


if __name__ == "__main__":
    main()
