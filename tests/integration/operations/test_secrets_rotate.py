"""`iep secrets rotate`, in-process through `cli.main`: provider credentials, DKIM keys and
webhook signing secrets are sealed again under a new master key (the old one no longer opens
them), with the key in data/secret.key (replaced) or from an environment variable the operator
names."""

import asyncio
import sqlite3
from pathlib import Path

import msgspec
import pytest

from iep_appliance.cli import main
from iep_appliance.config import load
from iep_appliance.domain.tenant_providers import ProviderCreate
from iep_appliance.domain.webhooks import WebhookCreate
from iep_appliance.runtime import Runtime
from iep_appliance.services.secret_box import SecretBox, SecretUnreadable
from iep_appliance.services.webhook_secrets import context as webhook_context
from iep_appliance.services.webhook_secrets import open_text


def setup(directory: Path) -> tuple[Path, str, str]:
    """A config, a tenant with a DKIM-keyed domain and a provider; (config, tenant, provider)."""
    path = directory / "iep.toml"
    path.write_text(
        '[storage]\npath = "data/iep.db"\nattachments_dir = "data/attachments"\n'
        "[webhooks]\nallow_private_networks = true\n"
    )
    assert main(["tenant", "create", "--config", str(path), "--name", "A", "--slug", "a"]) == 0
    assert main(["domain", "add", "--config", str(path), "--tenant", "a", "example.net"]) == 0

    async def add_provider() -> tuple[str, str]:
        rt = Runtime(load(path), deliver=False)
        await rt.services.store.open()
        try:
            tenant = await rt.services.store.get_tenant_by_slug("a")
            assert tenant is not None
            body = ProviderCreate(name="sg", type="sendgrid", credentials={"apiKey": "SG.k"})
            view = await rt.services.tenant_providers.create(tenant.id, body)
            hook = WebhookCreate(url="http://127.0.0.1:9/hook", events=["message.sent"])
            await rt.services.webhooks.create(tenant.id, hook)
            return tenant.id, view.id
        finally:
            await rt.services.store.close()

    tenant_id, provider_id = asyncio.run(add_provider())
    return path, tenant_id, provider_id


def sealed(directory: Path) -> tuple[bytes, bytes, str]:
    conn = sqlite3.connect(directory / "data" / "iep.db")
    provider = conn.execute("SELECT secret FROM tenant_providers").fetchone()[0]
    dkim, selector = conn.execute("SELECT private_key, selector FROM dkim_keys").fetchone()
    return bytes(provider), bytes(dkim), selector


def webhook_secret(directory: Path) -> tuple[str, str]:
    """(context, stored secret) of the one webhook endpoint."""
    conn = sqlite3.connect(directory / "data" / "iep.db")
    tenant_id, id_, secret = conn.execute(
        "SELECT tenant_id, id, secret FROM webhook_endpoints"
    ).fetchone()
    return webhook_context(tenant_id, id_), secret


def test_rotate_with_the_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, tenant_id, provider_id = setup(tmp_path)
    key_file = tmp_path / "data" / "secret.key"
    old = SecretBox(bytes.fromhex(key_file.read_text().strip()))
    hook_context, hook_before = webhook_secret(tmp_path)
    plaintext = open_text(old, hook_context, hook_before)
    assert plaintext.startswith("whsec_")
    capsys.readouterr()
    assert main(["secrets", "rotate", "--config", str(cfg)]) == 0
    assert "rotated 3 secrets" in capsys.readouterr().out
    new = SecretBox(bytes.fromhex(key_file.read_text().strip()))
    assert key_file.stat().st_mode & 0o077 == 0
    provider, dkim, selector = sealed(tmp_path)
    context = f"provider:{tenant_id}:{provider_id}"
    assert msgspec.json.decode(new.open(provider, context)) == {"apiKey": "SG.k"}
    assert b"PRIVATE KEY" in new.open(dkim, f"dkim:example.net:{selector}")
    with pytest.raises(SecretUnreadable):
        old.open(provider, context)
    _ctx, hook_after = webhook_secret(tmp_path)
    assert hook_after != hook_before and open_text(new, hook_context, hook_after) == plaintext
    with pytest.raises(SecretUnreadable):
        open_text(old, hook_context, hook_after)
    assert not (tmp_path / "data" / "secret.key.new").exists()


def test_rotate_to_a_key_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, tenant_id, provider_id = setup(tmp_path)
    key_file = tmp_path / "data" / "secret.key"
    before = key_file.read_text()
    monkeypatch.setenv("NEW_IEP_KEY", "ab" * 32)
    assert main(["secrets", "rotate", "--config", str(cfg), "--new-key-env", "NEW_IEP_KEY"]) == 0
    assert key_file.read_text() == before  # the operator switches to the variable
    provider, _dkim, _selector = sealed(tmp_path)
    box = SecretBox(bytes.fromhex("ab" * 32))
    assert box.open(provider, f"provider:{tenant_id}:{provider_id}") == b'{"apiKey":"SG.k"}'
    monkeypatch.setenv("BAD_KEY", "short")
    capsys.readouterr()
    assert main(["secrets", "rotate", "--config", str(cfg), "--new-key-env", "BAD_KEY"]) != 0
    assert "BAD_KEY" in capsys.readouterr().err
    assert sealed(tmp_path)[0] == provider  # nothing rewritten
