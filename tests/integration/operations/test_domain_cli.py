"""`iep domain add` (DESIGN §10.3), run in-process through `cli.main`: the domain is
listed for the tenant, its DKIM key is made and sealed, `--verified` makes it usable at once,
and the records to publish are printed."""

import json
import sqlite3
from pathlib import Path

import pytest

from iep_appliance.cli import main


def config(directory: Path) -> Path:
    path = directory / "iep.toml"
    path.write_text('[storage]\npath = "data/iep.db"\nattachments_dir = "data/attachments"\n')
    assert main(["tenant", "create", "--config", str(path), "--name", "A", "--slug", "a"]) == 0
    return path


@pytest.mark.parametrize(("flags", "status"), [([], "pending"), (["--verified"], "verified")])
def test_domain_add_lists_it_and_makes_a_sealed_dkim_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], status: str
) -> None:
    cfg = config(tmp_path)
    capsys.readouterr()

    code = main(["domain", "add", "--config", str(cfg), "--tenant", "a", "example.net", "--json",
                 "--dkim", "ed25519", *flags])  # fmt: skip

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["domain"] == "example.net" and out["status"] == status
    assert out["dkim"]["algorithm"] == "ed25519"
    assert {r["purpose"] for r in out["records"]} == {"spf", "dkim", "dmarc"}
    conn = sqlite3.connect(tmp_path / "data" / "iep.db")
    row = conn.execute("SELECT status FROM allowed_sender_domains WHERE domain = 'example.net'")
    assert row.fetchone() == (status,)
    sealed = conn.execute("SELECT private_key FROM dkim_keys WHERE domain = 'example.net'")
    assert b"PRIVATE KEY" not in sealed.fetchone()[0]
    assert (tmp_path / "data" / "secret.key").exists()


def test_domain_add_for_an_unknown_tenant_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)

    # exit 3: not found, as every day-two command
    assert main(["domain", "add", "--config", str(cfg), "--tenant", "zz", "example.net"]) == 3
    assert "'zz'" in capsys.readouterr().err


def test_domain_add_prints_the_records_to_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path)
    capsys.readouterr()

    assert main(["domain", "add", "--config", str(cfg), "--tenant", "a", "example.net"]) == 0

    out = capsys.readouterr().out
    assert "iep1._domainkey.example.net  v=DKIM1; k=rsa; p=" in out
    assert "_dmarc.example.net" in out
