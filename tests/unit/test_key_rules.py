"""Who may mint which key (DESIGN §10.1): privileges never grow, sandbox stays sandbox."""

import pytest

from iep_appliance.cli.keys import default_cli_scopes
from iep_appliance.domain.keys import mint_refusals
from iep_appliance.domain.models import Principal
from iep_appliance.domain.scopes import default_scopes


def key(*scopes: str, sandbox: bool = False) -> Principal:
    return Principal(tenant_id="t", key_id="k", scopes=frozenset(scopes), sandbox=sandbox)


@pytest.mark.parametrize(
    ("minter", "scopes", "sandbox", "refused"),
    [
        (key("send", "read", "admin"), ("send", "read", "admin"), False, []),
        (key("send", "read", "admin"), ("send",), True, []),
        (key("admin"), ("send",), False, ["scopes"]),
        (key("admin", "send", sandbox=True), ("send",), True, []),
        (key("admin", "send", sandbox=True), ("send",), False, ["sandbox"]),
        (key("admin", sandbox=True), ("send", "admin"), False, ["sandbox", "scopes"]),
    ],
)
def test_mint_refusals_name_each_privilege_that_would_grow(
    minter: Principal, scopes: tuple[str, ...], sandbox: bool, refused: list[str]
) -> None:
    assert [e.path for e in mint_refusals(minter, scopes, sandbox)] == refused


def test_sandbox_keys_default_to_send_and_read() -> None:
    assert default_scopes(sandbox=True) == ("send", "read")
    assert default_scopes(sandbox=False) == ("send",)
    assert default_cli_scopes(sandbox=True) == ("send", "read")
    assert default_cli_scopes(sandbox=False) == ("send", "read", "admin")
