"""`iep backup`, `iep restore` and `iep purge` as commands (DESIGN §7), run in-process
through `cli.main` on real data directories under tmp_path: a restore refuses an occupied data
directory and any archive that is corrupt, foreign or fails its checks, placing nothing; the
purge dry run prints what would go and changes nothing."""

import asyncio
import gzip
import io
import json
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

import pytest

from iep_appliance.cli import main

OLD = "2020-01-01T00:00:00.000Z"


def config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "iep.toml"
    path.write_text('[storage]\npath = "data/iep.db"\nattachments_dir = "data/attachments"\n')
    return path


def seeded(directory: Path) -> Path:
    """A data directory with a tenant, one old sent message with an event and an attachment
    (its row and its blob file)."""
    cfg = config(directory)
    assert main(["tenant", "create", "--config", str(cfg), "--name", "A", "--slug", "a"]) == 0
    conn = sqlite3.connect(directory / "data" / "iep.db")
    with conn:
        tenant_id = conn.execute("SELECT id FROM tenants").fetchone()[0]
        conn.execute(
            "INSERT INTO messages (id, tenant_id, to_addrs, from_email, subject, html_body,"
            " status, max_attempts, created_at, updated_at) VALUES"
            " ('m-old', ?, '[\"a@example.org\"]', 'n@example.com', 's', 'h', 'sent', 5, ?, ?)",
            (tenant_id, OLD, OLD),
        )
        conn.execute(
            "INSERT INTO events (message_id, tenant_id, type, created_at)"
            " VALUES ('m-old', ?, 'sent', ?)",
            (tenant_id, OLD),
        )
        conn.execute(
            "INSERT INTO attachments (id, message_id, tenant_id, position, filename,"
            " content_type, size_bytes, storage_key, created_at)"
            " VALUES ('a-1', 'm-old', ?, 0, 'a.pdf', 'application/pdf', 4, ?, ?)",
            (tenant_id, f"{tenant_id}/m-old/0_a.pdf", OLD),
        )
    conn.close()
    blob = directory / "data" / "attachments" / tenant_id / "m-old" / "0_a.pdf"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"%PDF")
    return cfg


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    cfg = seeded(tmp_path / "source")
    out = tmp_path / "backup.tar.gz"
    assert main(["backup", "--config", str(cfg), "--to", str(out)]) == 0
    return out


def restore(cfg: Path, source: Path) -> int:
    return main(["restore", "--config", str(cfg), "--from", str(source)])


def test_a_backup_restores_into_an_absent_data_dir_with_its_attachment_files(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = config(tmp_path / "target")

    assert restore(target, archive) == 0

    db = sqlite3.connect(tmp_path / "target" / "data" / "iep.db")
    assert db.execute("SELECT id FROM messages").fetchall() == [("m-old",)]
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    blobs = list((tmp_path / "target" / "data" / "attachments").rglob("0_a.pdf"))
    assert [b.read_bytes() for b in blobs] == [b"%PDF"]
    assert "integrity_check" in capsys.readouterr().err  # the restore reported its checks


def test_restore_refuses_a_data_dir_that_holds_a_file(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = config(tmp_path / "target")
    (tmp_path / "target" / "data").mkdir()
    keep = tmp_path / "target" / "data" / "notes.txt"
    keep.write_text("mine")
    capsys.readouterr()

    assert restore(target, archive) != 0

    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "target" / "data").iterdir()) == ["notes.txt"]
    assert keep.read_text() == "mine"


def test_restore_refuses_a_truncated_archive_and_places_nothing(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    target = config(tmp_path / "target")
    capsys.readouterr()

    assert restore(target, broken) != 0

    assert "--from" in capsys.readouterr().err
    assert not (tmp_path / "target" / "data" / "iep.db").exists()
    assert [p.name for p in (tmp_path / "target").iterdir()] == ["iep.toml"]


def _tar_gz(path: Path, entries: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def test_restore_refuses_a_foreign_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = _tar_gz(tmp_path / "photos.tar.gz", {"holiday.jpg": b"\xff\xd8\xff"})
    target = config(tmp_path / "target")

    assert restore(target, foreign) != 0

    assert "not an IEP backup" in capsys.readouterr().err
    assert not (tmp_path / "target" / "data").exists()


def test_restore_refuses_a_database_that_fails_its_checks(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
    garbage = b"SQLite format 3\x00" + b"\x00" * 4080
    forged = _tar_gz(
        tmp_path / "forged.tar.gz", {"database/iep.db": garbage, "manifest.json": manifest}
    )
    target = config(tmp_path / "target")
    capsys.readouterr()

    assert restore(target, forged) != 0

    assert "--from" in capsys.readouterr().err
    assert not (tmp_path / "target" / "data" / "iep.db").exists()


def test_purge_dry_run_prints_what_would_go_and_the_purge_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = seeded(tmp_path / "app")
    db = tmp_path / "app" / "data" / "iep.db"
    capsys.readouterr()

    assert main(["purge", "--config", str(cfg), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)

    assert plan["dryRun"] is True
    assert plan["counts"]["messages"] == 1
    assert plan["counts"]["events"] == 1
    assert plan["oldest"] == OLD
    assert sqlite3.connect(db).execute("SELECT count(*) FROM messages").fetchone() == (1,)

    assert main(["purge", "--config", str(cfg), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)

    assert done["counts"]["messages"] == 1
    assert sqlite3.connect(db).execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_a_file_purged_after_the_snapshot_leaves_a_consistent_archive(tmp_path: Path) -> None:
    """Retention may remove an attachment between the database snapshot and the archiving of
    the files: the archive then leaves out that file's row too, so it restores whole."""
    from iep_appliance.clock import Clock
    from iep_appliance.services.backups import backup
    from iep_appliance.store.sqlite.store import SqliteStore

    seeded(tmp_path / "source")
    data = tmp_path / "source" / "data"
    [blob] = (data / "attachments").rglob("0_a.pdf")

    def purge_meanwhile(line: str) -> None:
        if line.startswith("database: snapshot taken"):
            blob.unlink()

    out = tmp_path / "backup.tar.gz"

    async def take() -> Any:
        store = SqliteStore(str(data / "iep.db"), Clock())
        await store.open()
        try:
            return await backup(
                store, str(data / "attachments"), str(out), "0.0.0", Clock(), purge_meanwhile
            )
        finally:
            await store.close()

    manifest = asyncio.run(take())

    assert (manifest.attachment_files, manifest.counts["attachments"]) == (0, 0)
    assert restore(config(tmp_path / "target"), out) == 0
    db = sqlite3.connect(tmp_path / "target" / "data" / "iep.db")
    assert db.execute("SELECT count(*) FROM attachments").fetchone() == (0,)
    assert db.execute("SELECT id FROM messages").fetchall() == [("m-old",)]
    db.close()


def test_the_master_key_file_travels_with_the_backup_and_is_restored_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN §10: DKIM keys are sealed under the master key, VERP/unsubscribe tokens signed
    with keys derived from it; a restore without it could open neither."""
    from iep_appliance.config import load as load_config
    from iep_appliance.domain import verp
    from iep_appliance.runtime import Runtime

    cfg = seeded(tmp_path / "source")
    add = ["domain", "add", "--config", str(cfg), "--tenant", "a", "news.example.com"]
    assert main([*add, "--verified"]) == 0  # a DKIM key, sealed under a new secret.key
    source_key = tmp_path / "source" / "data" / "secret.key"
    assert source_key.is_file()

    async def token_of(config: Path) -> tuple[str, bool]:
        rt = Runtime(load_config(str(config)), deliver=False)
        await rt.start()
        try:
            signer = await rt.services.dkim_keys.signer_for("x@news.example.com")
            assert signer is not None  # the sealed private key opens
            signed = signer(b"From: x@news.example.com\r\nSubject: s\r\n\r\nbody\r\n")
            address = verp.bounce_address(
                rt.services.inbound.bounce_key,
                "019b76da-a800-7be1-bbcc-7681ead146e4",
                "b.example.com",
            )
            return address, signed.startswith(b"DKIM-Signature:")
        finally:
            await rt.stop()

    address, signs = asyncio.run(token_of(cfg))
    assert signs
    out = tmp_path / "backup.tar.gz"
    assert main(["backup", "--config", str(cfg), "--to", str(out)]) == 0
    with tarfile.open(out) as tar:
        assert "secret.key" in tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["secretKey"] is True
    assert "secret.key included" in capsys.readouterr().err

    target = config(tmp_path / "target")
    assert restore(target, out) == 0
    restored_key = tmp_path / "target" / "data" / "secret.key"
    assert restored_key.read_bytes() == source_key.read_bytes()
    assert restored_key.stat().st_mode & 0o777 == 0o600
    again, signs_again = asyncio.run(token_of(target))
    assert signs_again
    assert again == address  # old VERP (and unsubscribe) tokens still check


def test_a_master_key_from_the_environment_is_not_archived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = seeded(tmp_path / "source")
    monkeypatch.setenv("IEP_SECRET_KEY", "ab" * 32)
    out = tmp_path / "backup.tar.gz"
    assert main(["backup", "--config", str(cfg), "--to", str(out)]) == 0
    with tarfile.open(out) as tar:
        assert "secret.key" not in tar.getnames()
    assert "not in the archive" in capsys.readouterr().err
    target = config(tmp_path / "target")
    assert restore(target, out) == 0
    assert not (tmp_path / "target" / "data" / "secret.key").exists()


def test_restore_refuses_an_archive_whose_key_file_is_missing_but_listed(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tarfile.open(archive) as tar:
        entries = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile()
        }
    manifest = json.loads(entries["manifest.json"])
    manifest["secretKey"] = True
    entries["manifest.json"] = json.dumps(manifest).encode()
    forged = _tar_gz(tmp_path / "forged.tar.gz", entries)
    target = config(tmp_path / "target")
    assert restore(target, forged) != 0
    assert "secret.key" in capsys.readouterr().err
    assert not (tmp_path / "target" / "data" / "iep.db").exists()
