"""Tenants and first start: the use cases shared by the API, the dashboard and the CLI."""

import asyncio
import os
import re
import secrets
import string
from pathlib import Path

import msgspec

from iep_appliance.domain.errors import Conflict, FieldError, ValidationFailed
from iep_appliance.domain.models import Tenant
from iep_appliance.domain.scopes import ALL_SCOPES
from iep_appliance.services.keys import KeyService
from iep_appliance.services.passwords import hash_secret_async
from iep_appliance.store.base import Store

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
FIRST_ADMIN = "admin@example.com"


class FirstStart(msgspec.Struct, frozen=True):
    key: str
    admin_email: str
    admin_password: str
    dashboard_url: str
    path: str = ""  # the file they were also written to

    def lines(self) -> str:
        return (
            f"key={self.key}\nadmin_email={self.admin_email}\n"
            f"admin_password={self.admin_password}\ndashboard_url={self.dashboard_url}\n"
        )


def check_domain(domain: str, field: str = "domain") -> str:
    d = domain.strip().lower().rstrip(".")
    try:
        d = d.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationFailed([FieldError(field, "not a valid domain name")]) from None
    if not DOMAIN.match(d):
        raise ValidationFailed([FieldError(field, "not a valid domain name")])
    return d


async def create_tenant(store: Store, slug: str, name: str, domains: list[str]) -> Tenant:
    """Raises ValidationFailed for a bad slug or domain, Conflict for a duplicate slug."""
    if not SLUG.match(slug):
        raise ValidationFailed(
            [FieldError("slug", "use 1-63 lower-case letters, digits and dashes")]
        )
    if not name.strip():
        raise ValidationFailed([FieldError("name", "must not be empty")])
    clean = [check_domain(d) for d in domains]
    return await store.create_tenant(slug, name.strip(), clean)


def check_password(password: str) -> str:
    if len(password) < 8:
        raise ValidationFailed([FieldError("password", "must be at least 8 characters")])
    return password


async def create_admin_user(store: Store, email: str, password: str, role: str) -> str:
    if role not in ("admin", "viewer"):
        raise ValidationFailed([FieldError("role", "must be admin or viewer")])
    check_password(password)
    user = await store.create_admin_user(email, await hash_secret_async(password), role)
    return user.id


async def first_start(
    store: Store, keys: KeyService, db_path: str, dashboard_url: str
) -> FirstStart | None:
    """On a fresh database create tenant `default`, a full-scope key and an admin user, and
    write them to initial-credentials.txt (0600) next to the database. None otherwise."""
    if not await store.is_fresh():
        return None
    try:
        tenant = await store.create_tenant("default", "Default", ["example.com"])
    except Conflict:
        return None
    created = await keys.create(tenant.id, list(ALL_SCOPES), name="initial")
    alphabet = string.ascii_letters + string.digits
    password = "".join(secrets.choice(alphabet) for _ in range(20))
    await create_admin_user(store, FIRST_ADMIN, password, "admin")
    path = Path(db_path).parent / "initial-credentials.txt"
    creds = FirstStart(
        key=created.key,
        admin_email=FIRST_ADMIN,
        admin_password=password,
        dashboard_url=dashboard_url,
        path=str(path),
    )
    await asyncio.to_thread(_write_private, path, creds.lines())
    return creds


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 0600 from creation on), in a data directory
    only its owner can enter (made here when no SQLite file made it, e.g. on PostgreSQL)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
    with open(path, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
        fh.write(text)
    path.chmod(0o600)
