"""DKIM signing keys by domain (a domain shared by tenants has one set of keys)."""

from typing import Protocol

from iep_appliance.domain.sender_domains import DkimKeyRecord


class DkimKeyStore(Protocol):
    async def dkim_keys(self, domain: str) -> list[DkimKeyRecord]:
        """Every key of `domain` (active first)."""

    async def active_dkim_keys(self) -> list[DkimKeyRecord]:
        """The signing key of every domain that has one."""

    async def next_dkim_keys(self) -> list[DkimKeyRecord]:
        """Keys made by a rotation, waiting for their TXT record."""

    async def keyless_domains(self) -> list[str]:
        """Domains some tenant lists that have no active key yet."""

    async def add_dkim_key(self, key: DkimKeyRecord, only_if_none: bool = False) -> bool:
        """Store `key` (a rotation's key replaces a retired one under its selector). With
        `only_if_none`, False and nothing written when the domain has an active/next key."""

    async def activate_dkim_key(self, domain: str, selector: str) -> bool:
        """The `next` key under `selector` signs; the active one retires. False if none."""
