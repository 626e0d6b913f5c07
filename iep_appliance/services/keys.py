"""API keys: creation (shown once), authentication with a bounded short-TTL cache, revocation.

The argon2id hash is paid once per key per TTL, not per request; `last_used_at` is kept
in memory and flushed in batches by housekeeping.
"""

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import msgspec

from iep_appliance.clock import Clock
from iep_appliance.domain import ids
from iep_appliance.domain.errors import (
    FieldError,
    Forbidden,
    IpNotAllowed,
    NotFound,
    NotPermitted,
    TenantDeactivated,
    Unauthorized,
    ValidationFailed,
)
from iep_appliance.domain.ip_allowlist import allowed, parse_cidrs
from iep_appliance.domain.keys import format_key, mint_refusals, parse_key
from iep_appliance.domain.models import ApiKey, Principal
from iep_appliance.domain.scopes import ALL_SCOPES, default_scopes, parse_scopes
from iep_appliance.services.passwords import hash_secret_async, verify_secret_async
from iep_appliance.store.base import Store

MAX_NAME = 200
MAX_GRACE_SECONDS = 30 * 86400
# How long a rotated key keeps working unless told otherwise (dashboard form, CLI).
ROTATE_GRACE_SECONDS = 3600


class CreatedKey(msgspec.Struct, frozen=True):
    key: str
    record: ApiKey


class KeyService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        ttl_seconds: float = 60,
        max_cached: int = 10_000,
        on_change: Callable[[str, str], None] | None = None,
    ):
        self.store = store
        # (kind, ref) of a dropped key ("key", key id) or tenant ("tenant", tenant id): the
        # change feed tells the other processes on the store.
        self.on_change = on_change
        self.clock = clock
        self.ttl = ttl_seconds
        self.max_cached = max_cached
        # sha256(full key) -> (principal, expires_at monotonic, key expiry iso or None)
        self._cache: OrderedDict[bytes, tuple[Principal, float, str | None]] = OrderedDict()
        self._used: dict[str, str] = {}

    async def create(
        self,
        tenant_id: str,
        scopes: Sequence[str] | str = ALL_SCOPES,
        name: str = "",
        expires_at: datetime | None = None,
        sandbox: bool = False,
        ip_allowlist: tuple[str, ...] = (),
    ) -> CreatedKey:
        scope_tuple = parse_scopes(list(scopes) if not isinstance(scopes, str) else scopes)
        key, prefix = format_key(self.clock.random(64), sandbox=sandbox)
        record = ApiKey(
            id=self.clock.new_id(),
            tenant_id=tenant_id,
            name=name,
            prefix=prefix,
            key_hash=await hash_secret_async(key),
            scopes=scope_tuple,
            sandbox=sandbox,
            active=True,
            expires_at=ids.iso(expires_at) if expires_at else None,
            last_used_at=None,
            created_at=ids.iso(self.clock.now()),
            ip_allowlist=ip_allowlist,
        )
        await self.store.create_key(record)
        return CreatedKey(key=key, record=record)

    async def issue(
        self,
        tenant_id: str,
        name: str,
        scopes: list[str] | None,
        expires_at: str | None,
        sandbox: bool | None,
        minter: Principal | None = None,
        ip_allowlist: list[str] | None = None,
    ) -> CreatedKey:
        """Self-service creation (POST /v1/api-keys; the dashboard passes no `minter`).

        `sandbox` None: like the minting key (live for the operator); `scopes` None: the
        default for that kind (DESIGN §10.1). Raises ValidationFailed naming fields, and
        NotPermitted naming `sandbox`/`scopes` when `minter` would grow a privilege."""
        if sandbox is None:
            sandbox = minter is not None and minter.sandbox
        errors: list[FieldError] = []
        if len(name) > MAX_NAME or "\r" in name or "\n" in name:
            errors.append(FieldError("name", f"at most {MAX_NAME} characters on one line"))
        scope_tuple: tuple[str, ...] = ()
        try:
            scope_tuple = parse_scopes(scopes) if scopes is not None else default_scopes(sandbox)
        except ValueError as exc:
            errors.append(FieldError("scopes", str(exc)))
        expires = None
        if expires_at is not None:
            try:
                expires = ids.parse_iso(expires_at)
            except ValueError:
                errors.append(FieldError("expiresAt", "must be an ISO 8601 date-time"))
            else:
                if expires <= self.clock.now():
                    errors.append(FieldError("expiresAt", "must be in the future"))
        cidrs, cidr_errors = parse_cidrs(ip_allowlist or [], "ipAllowlist")
        errors += cidr_errors
        if errors:
            raise ValidationFailed(errors)
        if minter is not None and (refused := mint_refusals(minter, scope_tuple, sandbox)):
            raise NotPermitted(refused, "This API key cannot create a key with more privileges")
        return await self.create(
            tenant_id, list(scope_tuple), name.strip(), expires, sandbox, tuple(cidrs)
        )

    async def set_ip_allowlist(self, tenant_id: str, key_id: str, allowlist: list[str]) -> ApiKey:
        """Replace a key's IP allowlist ([] = anywhere); effective at once (cache dropped).
        Raises ValidationFailed naming `ipAllowlist[i]`, NotFound."""
        cidrs, errors = parse_cidrs(allowlist, "ipAllowlist")
        if errors:
            raise ValidationFailed(errors)
        updated = await self.store.set_key_ip_allowlist(tenant_id, key_id, cidrs)
        if updated is None:
            raise NotFound("No such API key")
        self.forget(key_id)
        return updated

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's active keys, newest first; last use is flushed first so it is current."""
        await self.flush_last_used()
        return await self.store.list_keys(tenant_id)

    async def authenticate(self, presented: str | None, client: str | None = None) -> Principal:
        """The principal of a presented key used from address `client`. Raises Unauthorized,
        and IpNotAllowed when the key has an IP allowlist without `client` (None: unknown,
        which no allowlist holds)."""
        principal = await self._authenticate(presented)
        if principal.ip_allowlist and not allowed(principal.ip_allowlist, client):
            raise IpNotAllowed(client or "")
        return principal

    async def _authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise Unauthorized("Missing API key")
        digest = hashlib.sha256(presented.encode()).digest()
        now_iso = ids.iso(self.clock.now())
        hit = self._cache.get(digest)
        if hit is not None:
            principal, until, expires_at = hit
            if until > self.clock.monotonic() and (expires_at is None or expires_at > now_iso):
                self._used[principal.key_id] = now_iso
                return principal
            del self._cache[digest]
        parsed = parse_key(presented)
        if parsed is None:
            raise Unauthorized("Invalid API key")
        record = await self.store.key_by_prefix(parsed.prefix)
        if record is None or not record.active or record.sandbox != parsed.sandbox:
            raise Unauthorized("Invalid API key")
        if record.expires_at is not None and record.expires_at <= now_iso:
            raise Unauthorized("API key expired")
        if not await verify_secret_async(record.key_hash, presented):
            raise Unauthorized("Invalid API key")
        tenant = await self.store.get_tenant(record.tenant_id)
        if tenant is None or not tenant.active:
            raise TenantDeactivated("The tenant of this API key is deactivated")
        principal = Principal(
            tenant_id=record.tenant_id,
            key_id=record.id,
            scopes=frozenset(record.scopes),
            sandbox=record.sandbox,
            ip_allowlist=record.ip_allowlist,
        )
        self._cache[digest] = (principal, self.clock.monotonic() + self.ttl, record.expires_at)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        self._used[record.id] = now_iso
        return principal

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise Forbidden(f"This API key lacks the {scope!r} scope")

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache at once (revoke, rotate), here and in every process."""
        self.drop_key(key_id)
        if self.on_change is not None:
            self.on_change("key", key_id)

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop every cached key of a tenant at once (the tenant was deactivated), here and in
        every process."""
        self.drop_tenant(tenant_id)
        if self.on_change is not None:
            self.on_change("tenant", tenant_id)

    def drop_key(self, key_id: str) -> None:
        """Drop a key from this process's cache (another process changed it)."""
        for digest in [d for d, (p, _u, _e) in self._cache.items() if p.key_id == key_id]:
            del self._cache[digest]

    def drop_tenant(self, tenant_id: str) -> None:
        """Drop a tenant's keys from this process's cache (another process changed it)."""
        for digest in [d for d, (p, _u, _e) in self._cache.items() if p.tenant_id == tenant_id]:
            del self._cache[digest]

    async def revoke(self, tenant_id: str, key_id: str, minter: Principal | None = None) -> None:
        """Revoke a key at once. A sandbox `minter` may revoke only sandbox keys."""
        if minter is not None and minter.sandbox:
            old = await self.store.get_key(tenant_id, key_id)
            if old is None or not old.active:
                raise NotFound("No such API key")
            if not old.sandbox:
                raise NotPermitted(
                    [FieldError("sandbox", "a sandbox key can revoke only sandbox keys")],
                    "A sandbox key cannot revoke a live key",
                )
        if not await self.store.revoke_key(tenant_id, key_id):
            raise NotFound("No such API key")
        self.forget(key_id)

    async def rotate(
        self, tenant_id: str, key_id: str, grace_seconds: int, minter: Principal | None = None
    ) -> CreatedKey:
        """A new key with the old one's name, scopes, expiry and sandbox-ness; the old one
        works `grace_seconds` more. A `minter` may rotate only a key it could have created."""
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise ValidationFailed(
                [FieldError("graceSeconds", f"must be between 0 and {MAX_GRACE_SECONDS}")]
            )
        old = await self.store.get_key(tenant_id, key_id)
        if old is None or not old.active:
            raise NotFound("No such API key")
        if minter is not None and (refused := mint_refusals(minter, old.scopes, old.sandbox)):
            raise NotPermitted(refused, "This API key cannot rotate a key with more privileges")
        expires = None
        if old.expires_at is not None:
            expires = ids.parse_iso(old.expires_at)
        new = await self.create(
            tenant_id, list(old.scopes), old.name, expires, old.sandbox, old.ip_allowlist
        )
        if grace_seconds <= 0:
            await self.store.revoke_key(tenant_id, key_id)
        else:
            until = self.clock.now() + timedelta(seconds=grace_seconds)
            if old.expires_at is None or old.expires_at > ids.iso(until):
                await self.store.set_key_expiry(tenant_id, key_id, ids.iso(until))
        self.forget(key_id)
        return new

    async def flush_last_used(self) -> None:
        used, self._used = self._used, {}
        await self.store.touch_keys(used)
