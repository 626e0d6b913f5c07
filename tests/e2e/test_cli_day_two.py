"""The operator's day-two CLI through the real `iep` process, against the
database of a real `iep serve` that delivers to a real SMTP server (which defers one
recipient's DATA with a 451 on both attempts, so failed messages and DLQ entries are real).
Errors must be one `error:` line and exit 1 (refused) or 3 (not found), never a traceback.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REFUSED_RCPT = "refuse@example.net"


def iep(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iep_appliance", *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok_json(config: Path, *args: str, stdin: str | None = None) -> Any:
    done = iep(config, *args, "--json", stdin=stdin)
    assert done.returncode == 0, f"iep {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout)


def refused(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


class Site:
    def __init__(self, tmp: Path, sink: SmtpSink) -> None:
        self.port = free_port()
        self.config = write_config(
            tmp,
            self.port,
            logging={"access_log": False},
            delivery={"retry_schedule": [1]},
            providers={"relay": {"type": "smtp", "host": "127.0.0.1", "port": sink.port},
                       "outbox": {"type": "outbox"}},
            routing={"default_provider": "relay"},
        )  # fmt: skip
        self.server = ServerProcess(self.config, self.port, tmp / "logs")
        self.sink = sink
        self.key = ""
        self.refusing = True  # the sink refuses REFUSED_RCPT

    @property
    def url(self) -> str:
        return self.server.base_url

    def send(self, to: str, key: str | None = None) -> httpx.Response:
        body = {"to": [to], "from": {"email": "ops@acme.com"}, "subject": "s",
                "htmlBody": "<p>x</p>"}  # fmt: skip
        with httpx.Client(trust_env=False, timeout=30) as http:
            return http.post(f"{self.url}/v1/messages", json=body,
                             headers={"x-api-key": key or self.key})  # fmt: skip

    def status(self, message_id: str) -> str:
        with httpx.Client(trust_env=False, timeout=30) as http:
            resp = http.get(f"{self.url}/v1/messages/{message_id}",
                            headers={"x-api-key": self.key})  # fmt: skip
        return str(resp.json()["status"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with SmtpSink() as sink:
        sink.set_data_rule(
            lambda _f, rcpts, _d: (
                "451 4.3.0 try later" if s.refusing and REFUSED_RCPT in rcpts else None
            )
        )
        s = Site(tmp_path_factory.mktemp("day2"), sink)
        ok_json(s.config, "tenant", "create", "--name", "Acme", "--slug", "acme",
                "--domain", "acme.com", "--domain", "acme.org")  # fmt: skip
        s.key = ok_json(s.config, "key", "create", "--tenant", "acme", "--name", "app")["key"]
        ok_json(s.config, "admin-user", "create", "--email", "root@acme.com",
                stdin="root-passw0rd\n")  # fmt: skip
        with s.server:
            yield s


def retries(site: Site, message_id: str) -> int:
    """How many times the message was queued again by a retry (its `queued` retry events)."""
    events = ok_json(site.config, "message", "show", message_id)["events"]
    return sum(1 for e in events if e["type"] == "queued" and e["data"].get("retry"))


def failed_message(site: Site) -> str:
    """A message that failed; the sink then takes REFUSED_RCPT, so a retry is delivered.
    (A store that wakes the server at once, PostgreSQL's change feed, would otherwise see the
    retried send fail again, twice, before the test looks at it.)"""
    site.refusing = True
    resp = site.send(REFUSED_RCPT)
    assert resp.status_code == 202, resp.text
    message_id = str(resp.json()["messageId"])
    wait_until_sync(lambda: site.status(message_id) == "failed", timeout=30)
    site.refusing = False
    return message_id


# ---- tenants -------------------------------------------------------------------------------


def test_tenant_list_and_show_name_the_tenant_with_its_domains(site: Site) -> None:
    listed = ok_json(site.config, "tenant", "list")["data"]
    shown = ok_json(site.config, "tenant", "show", "acme")
    text = iep(site.config, "tenant", "list")

    assert "acme" in [t["slug"] for t in listed]
    assert "acme.com" in shown["domains"] and shown["active"] is True
    assert "app" in [k["name"] for k in shown["keys"]]
    assert text.returncode == 0 and re.search(r"^acme\s+Acme\s+yes", text.stdout, re.M)


def test_a_deactivated_tenant_is_refused_by_the_server_and_activate_undoes_it(
    site: Site,
) -> None:
    ok_json(site.config, "tenant", "create", "--name", "Beta", "--slug", "beta",
            "--domain", "acme.com")  # fmt: skip
    key = ok_json(site.config, "key", "create", "--tenant", "beta")["key"]

    off = ok_json(site.config, "tenant", "deactivate", "beta")
    refused_send = site.send("ada@example.net", key)
    on = ok_json(site.config, "tenant", "activate", "beta")
    accepted = site.send("ada@example.net", key)

    assert off["active"] is False and on["active"] is True
    assert refused_send.status_code == 403
    assert accepted.status_code == 202, accepted.text


def test_an_unknown_tenant_is_not_found_exit_3(site: Site) -> None:
    refused(iep(site.config, "tenant", "show", "nope"), 3, "No tenant with slug 'nope'")
    refused(iep(site.config, "tenant", "deactivate", "nope"), 3, "'nope'")
    refused(iep(site.config, "key", "list", "--tenant", "nope"), 3, "'nope'")


# ---- keys ----------------------------------------------------------------------------------


def test_key_list_shows_prefixes_and_never_a_secret(site: Site) -> None:
    keys = ok_json(site.config, "key", "list", "--tenant", "acme")["data"]

    assert site.key.split("_")[1] in [k["prefix"] for k in keys]
    assert all("key" not in k and "keyHash" not in k for k in keys)
    assert site.key.split("_")[2] not in iep(site.config, "key", "list", "--tenant", "acme").stdout


def test_a_revoked_key_is_refused_by_the_running_server(site: Site) -> None:
    created = ok_json(site.config, "key", "create", "--tenant", "acme", "--name", "temp")

    done = ok_json(site.config, "key", "revoke", "--tenant", "acme", created["key"].split("_")[1])
    again = iep(site.config, "key", "revoke", "--tenant", "acme", created["id"])

    assert done["revoked"] is True
    assert site.send("ada@example.net", created["key"]).status_code == 401
    refused(again, 3, "No active API key")


def test_rotate_gives_a_working_key_and_keeps_the_old_one_for_the_grace(site: Site) -> None:
    old = ok_json(site.config, "key", "create", "--tenant", "acme", "--name", "rot")

    new = ok_json(site.config, "key", "rotate", "--tenant", "acme", old["id"])

    assert new["graceSeconds"] == 3600 and new["replaced"] == old["id"]
    assert site.send("ada@example.net", new["key"]).status_code == 202
    assert site.send("ada@example.net", old["key"]).status_code == 202  # still in its grace
    listed = ok_json(site.config, "key", "list", "--tenant", "acme")["data"]
    assert next(k for k in listed if k["id"] == old["id"])["expiresAt"] is not None


def test_rotate_with_a_bad_grace_names_the_field_and_exits_1(site: Site) -> None:
    created = ok_json(site.config, "key", "create", "--tenant", "acme")

    done = iep(site.config, "key", "rotate", "--tenant", "acme", created["id"],
               "--grace-seconds", "-5")  # fmt: skip

    refused(done, 1, "graceSeconds")


# ---- dashboard users -----------------------------------------------------------------------


def login(site: Site, email: str, password: str) -> int:
    with httpx.Client(trust_env=False, timeout=30, base_url=site.url) as http:
        http.get("/admin/login")
        token = http.cookies.get("iep_admin_login", path="/admin/login")
        resp = http.post("/admin/login", data={"email": email, "password": password,
                                               "csrf_token": token})  # fmt: skip
        return resp.status_code


def test_set_password_from_stdin_lets_the_operator_back_in(site: Site) -> None:
    created = iep(site.config, "admin-user", "create", "--email", "Ops@Acme.com",
                  "--role", "viewer", stdin="first-passw0rd\n")  # fmt: skip

    changed = ok_json(site.config, "admin-user", "set-password", "--email", "ops@acme.com",
                      stdin="second-passw0rd\n")  # fmt: skip

    assert created.returncode == 0
    assert "admin user" not in created.stdout and "role viewer" in created.stdout
    assert changed["passwordChanged"] is True and changed["role"] == "viewer"
    assert login(site, "ops@acme.com", "second-passw0rd") == 303
    assert login(site, "ops@acme.com", "first-passw0rd") == 401


def test_set_password_refuses_a_short_one_and_an_unknown_user(site: Site) -> None:
    short = iep(site.config, "admin-user", "set-password", "--email", "root@acme.com",
                stdin="short\n")  # fmt: skip
    unknown = iep(site.config, "admin-user", "set-password", "--email", "who@acme.com",
                  stdin="long-enough-1\n")  # fmt: skip

    refused(short, 1, "password: must be at least 8 characters")
    refused(unknown, 3, "No dashboard user 'who@acme.com'")


def test_admin_user_list_and_delete_but_never_the_last_admin(site: Site) -> None:
    iep(site.config, "admin-user", "create", "--email", "temp@acme.com", stdin="passw0rd-x\n")
    admins = [u for u in ok_json(site.config, "admin-user", "list")["data"]
              if u["role"] == "admin"]  # fmt: skip

    deleted = ok_json(site.config, "admin-user", "delete", "--email", "temp@acme.com")
    emails = [u["email"] for u in ok_json(site.config, "admin-user", "list")["data"]]
    last = iep(site.config, "admin-user", "delete", "--email", "root@acme.com")

    assert {"root@acme.com", "temp@acme.com"} <= {u["email"] for u in admins}
    assert deleted["deleted"] is True and "temp@acme.com" not in emails
    refused(last, 1, "at least one admin")


# ---- domains and queues --------------------------------------------------------------------


def test_domain_list_and_remove_and_the_server_refuses_the_removed_domain(site: Site) -> None:
    ok_json(site.config, "tenant", "create", "--name", "Gamma", "--slug", "gamma",
            "--domain", "acme.com", "--domain", "gamma.org")  # fmt: skip
    key = ok_json(site.config, "key", "create", "--tenant", "gamma")["key"]
    before = ok_json(site.config, "domain", "list", "--tenant", "gamma")["data"]

    removed = ok_json(site.config, "domain", "remove", "--tenant", "gamma", "acme.com")
    after = ok_json(site.config, "domain", "list", "--tenant", "gamma")["data"]
    again = iep(site.config, "domain", "remove", "--tenant", "gamma", "acme.com")

    assert [d["domain"] for d in before] == ["acme.com", "gamma.org"]
    assert removed["removed"] is True
    assert [d["domain"] for d in after] == ["gamma.org"]
    assert site.send("ada@example.net", key).status_code == 403  # from ops@acme.com
    refused(again, 3, "Domain not found")


def test_queue_list_shows_the_default_queue_with_its_depth(site: Site) -> None:
    queues = ok_json(site.config, "queue", "list", "--tenant", "acme")["data"]

    assert [q["name"] for q in queues] == ["default"]
    assert set(queues[0]["depth"]) >= {"ready", "leased"}


# ---- messages and the DLQ ------------------------------------------------------------------


def test_message_show_and_retry_of_a_failed_message(site: Site) -> None:
    message_id = failed_message(site)

    shown = ok_json(site.config, "message", "show", message_id)
    retried = ok_json(site.config, "message", "retry", message_id)
    again = iep(site.config, "message", "retry", message_id)

    assert shown["status"] == "failed" and "451" in shown["lastError"]
    assert shown["tenant"] == "acme" and shown["to"] == [REFUSED_RCPT]
    assert shown["events"][0]["type"] == "queued"
    assert retried == {"messageId": message_id, "retried": True}
    assert retries(site, message_id) == 1
    refused(again, 1, "Only failed messages can be retried")
    refused(iep(site.config, "message", "show", "nope"), 3, "Message not found")


def test_dlq_list_shows_the_dead_job_and_retry_requeues_it(site: Site) -> None:
    message_id = failed_message(site)

    dead = ok_json(site.config, "dlq", "list")["data"]
    job = next(j for j in dead if j["ref"] == message_id)
    text = iep(site.config, "dlq", "list")
    retried = ok_json(site.config, "dlq", "retry", str(job["job"]))
    after = ok_json(site.config, "dlq", "list")["data"]
    bad = iep(site.config, "dlq", "retry", "abc")

    assert job["kind"] == "send" and job["tenant"] == "acme" and "451" in job["lastError"]
    assert str(job["job"]) in text.stdout
    assert retried == {"retried": 1, "refused": []}
    assert message_id not in [j["ref"] for j in after]
    assert retries(site, message_id) == 1
    refused(bad, 1, "job: must be job numbers")
