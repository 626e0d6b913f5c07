"""Webhook signing secrets at rest (DESIGN §10): sealed under the master key, opened to sign.

A secret is stored as text, `sealed:` + the base64 of the AES-256-GCM box (context
`webhook:<tenant>:<endpoint>`, so a sealed value copied to another endpoint does not open).
The plaintext `whsec_…` is shown once — in the answer to the create (or to a rotation) —
and is otherwise only held in memory by the dispatcher while it signs. A value stored before
secrets were sealed (plain `whsec_…`) is still read, and is sealed at the next start
(`seal_stored`); `iep secrets rotate` re-seals every sealed one under the new key.
"""

import base64

import msgspec

from iep_appliance.domain.webhooks import WebhookEndpoint
from iep_appliance.services.secret_box import SecretBox, SecretUnreadable
from iep_appliance.store.protocols.webhooks import WebhookStore

PREFIX = "sealed:"


def context(tenant_id: str, endpoint_id: str) -> str:
    return f"webhook:{tenant_id}:{endpoint_id}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def seal_text(box: SecretBox, ctx: str, plaintext: str) -> str:
    return PREFIX + base64.b64encode(box.seal(plaintext.encode(), ctx)).decode("ascii")


def open_text(box: SecretBox, ctx: str, stored: str) -> str:
    """The plaintext of a stored value (a legacy plaintext one as it is). Raises
    SecretUnreadable when it was sealed under another key or altered."""
    if not is_sealed(stored):
        return stored
    return box.open(base64.b64decode(stored[len(PREFIX) :]), ctx).decode()


def reseal_text(old: SecretBox, new: SecretBox, ctx: str, stored: str) -> str:
    """For `iep secrets rotate`: opened under `old`, sealed under `new` (plaintext sealed)."""
    return seal_text(new, ctx, open_text(old, ctx, stored))


class WebhookSecrets:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def seal(self, tenant_id: str, endpoint_id: str, plaintext: str) -> str:
        return seal_text(self.box, context(tenant_id, endpoint_id), plaintext)

    def reveal(self, endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
        """The endpoint with its secrets in plaintext, to sign with (never to store or show);
        None when a secret does not open under this master key (sealed under another, or
        altered). A master key that cannot be loaded at all raises: that is the node's
        failure, not this endpoint's."""
        ctx = context(endpoint.tenant_id, endpoint.id)
        old = endpoint.old_secret
        try:
            return msgspec.structs.replace(
                endpoint,
                secret=open_text(self.box, ctx, endpoint.secret),
                old_secret=open_text(self.box, ctx, old) if old else old,
            )
        except (SecretUnreadable, ValueError):  # ValueError: not base64 after the prefix
            return None

    async def seal_stored(self, store: WebhookStore) -> int:
        """Seal every secret still stored in plaintext (from before they were sealed)."""

        def seal(ctx: str, stored: str) -> str:
            return stored if is_sealed(stored) else seal_text(self.box, ctx, stored)

        return await store.reseal_webhook_secrets(seal)
