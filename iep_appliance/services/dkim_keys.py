"""DKIM keys of sender domains: generated on add, sealed at rest, rotated over two selectors,
and handed to the send path as a ready signer.

A key is made when a domain is added (and, at start and on each housekeeping tick, for any
listed domain that still has none: first start, tenants made by the CLI). A rotation makes a
`next` key under the other selector; it signs only once DNS shows its record (the domain
check promotes it), so mail is never signed with a key receivers cannot find. Private keys
are opened once and kept in memory; the cache also remembers domains without a key.
"""

import asyncio
import logging
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from iep_appliance.clock import Clock
from iep_appliance.domain import dkim, ids
from iep_appliance.domain.errors import Conflict, FieldError, ValidationFailed
from iep_appliance.domain.mime import Signer
from iep_appliance.domain.sender_domains import SELECTORS, DkimKeyRecord, next_selector
from iep_appliance.logs import event
from iep_appliance.services.secret_box import SecretBox, SecretUnreadable
from iep_appliance.store.base import DeliverabilityStore

log = logging.getLogger("iep.dkim")
ALGORITHMS = ("rsa", "ed25519")
_CACHE_SECONDS = 30.0


def generate(algorithm: str) -> tuple[bytes, str]:
    """(PKCS#8 PEM private key, p= value) of a new key. RSA-2048 takes ~0.1 s: run in a thread."""
    if algorithm == "rsa":
        private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, dkim.public_value(private)


def _context(domain: str, selector: str) -> str:
    return f"dkim:{domain}:{selector}"


class DkimKeyService:
    def __init__(
        self,
        store: DeliverabilityStore,
        box: SecretBox,
        clock: Clock,
        default_algorithm: str = "rsa",
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.box = box
        self.clock = clock
        self.default_algorithm = default_algorithm
        self.on_change = on_change
        self._cache: dict[str, tuple[dkim.DkimSigningKey | None, float]] = {}
        # One load per domain at a time: on a miss (start, every _CACHE_SECONDS) the sender
        # pool's 32 tasks all want the key at once; parsing the PEM 32 times cost ~5 % of
        # the loop in a profile under bench/deliver.py.
        self._loading: dict[str, asyncio.Future[dkim.DkimSigningKey | None]] = {}

    # ---- keys ----------------------------------------------------------------------------------

    async def _new_key(
        self, domain: str, selector: str, algorithm: str, state: str
    ) -> DkimKeyRecord:
        pem, public = await asyncio.to_thread(generate, algorithm)
        now = ids.iso(self.clock.now())
        return DkimKeyRecord(
            domain=domain,
            selector=selector,
            algorithm=algorithm,
            private_key=self.box.seal(pem, _context(domain, selector)),
            public_key=public,
            state=state,
            created_at=now,
            activated_at=now if state == "active" else None,
        )

    @staticmethod
    def check_algorithm(algorithm: str | None, field: str = "dkimAlgorithm") -> None:
        if algorithm is not None and algorithm not in ALGORITHMS:
            raise ValidationFailed([FieldError(field, 'must be "rsa" or "ed25519"')])

    async def ensure_key(self, domain: str, algorithm: str | None = None) -> bool:
        """Give `domain` a signing key unless it has one. True when one was made."""
        self.check_algorithm(algorithm)
        key = await self._new_key(
            domain, SELECTORS[0], algorithm or self.default_algorithm, "active"
        )
        made = await self.store.add_dkim_key(key, only_if_none=True)
        if made:
            self._forget(domain)
            event(log, "dkim.key_created", domain=domain, selector=key.selector)
        return made

    async def ensure_all(self) -> int:
        """A key for every listed domain without one. Returns how many were made."""
        made = 0
        for domain in await self.store.keyless_domains():
            made += await self.ensure_key(domain)
        return made

    async def rotate(self, domain: str, algorithm: str | None = None) -> DkimKeyRecord:
        """A `next` key under the other selector; it signs once DNS shows it. Raises Conflict
        while an earlier rotation still waits for DNS."""
        self.check_algorithm(algorithm, "algorithm")
        keys = await self.store.dkim_keys(domain)
        if any(k.state == "next" for k in keys):
            raise Conflict("A rotation is already waiting for its DNS record", {"domain": domain})
        if not any(k.state == "active" for k in keys):
            await self.ensure_key(domain, algorithm)
            keys = await self.store.dkim_keys(domain)
            return next(k for k in keys if k.state == "active")
        current = next(k for k in keys if k.state == "active")
        key = await self._new_key(
            domain, next_selector(keys), algorithm or current.algorithm, "next"
        )
        if not await self.store.add_dkim_key(key):
            raise Conflict("A rotation is already waiting for its DNS record", {"domain": domain})
        event(log, "dkim.key_rotated", domain=domain, selector=key.selector)
        return key

    async def activate(self, domain: str, selector: str) -> bool:
        """Sign with the `next` key under `selector` from now on (its TXT is in DNS)."""
        done = await self.store.activate_dkim_key(domain, selector)
        if done:
            self._forget(domain)
            event(log, "dkim.key_activated", domain=domain, selector=selector)
        return done

    def _forget(self, domain: str) -> None:
        self._cache.pop(domain, None)
        self._loading.pop(domain, None)
        if self.on_change is not None:
            self.on_change(domain)

    # ---- signing -------------------------------------------------------------------------------

    async def signing_key(self, domain: str) -> dkim.DkimSigningKey | None:
        domain = domain.lower()
        now = self.clock.monotonic()
        hit = self._cache.get(domain)
        if hit is not None and now - hit[1] < _CACHE_SECONDS:
            return hit[0]
        loading = self._loading.get(domain)
        if loading is None:
            loading = self._loading[domain] = asyncio.ensure_future(self._load(domain))

            def loaded(done: "asyncio.Future[dkim.DkimSigningKey | None]") -> None:
                if self._loading.get(domain) is done:
                    del self._loading[domain]
                    if not done.cancelled() and done.exception() is None:
                        self._cache[domain] = (done.result(), now)

            loading.add_done_callback(loaded)
        return await asyncio.shield(loading)

    async def _load(self, domain: str) -> dkim.DkimSigningKey | None:
        record = next((k for k in await self.store.dkim_keys(domain) if k.state == "active"), None)
        if record is None:
            return None
        try:
            pem = self.box.open(record.private_key, _context(domain, record.selector))
            private = dkim.load_private_key(record.algorithm, pem)
        except (SecretUnreadable, ValueError) as exc:  # another master key: send unsigned, loudly
            log.error(
                "dkim.key_unreadable",
                extra={
                    "fields": {"domain": domain, "selector": record.selector, "error": str(exc)}
                },
            )
            return None
        return dkim.DkimSigningKey(domain, record.selector, record.algorithm, private)

    async def signer_for(self, from_email: str) -> Signer | None:
        """The signer for mail from `from_email`'s domain, or None when it has no key."""
        key = await self.signing_key(from_email.rpartition("@")[2])
        if key is None:
            return None
        clock = self.clock

        def sign(raw: bytes) -> bytes:
            return dkim.sign(raw, key, int(clock.now().timestamp()))

        return sign
