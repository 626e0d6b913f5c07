"""What a send attempt works with: the router, blobs, clock, retry schedule and the hooks of
DKIM, VERP, one-click unsubscribe and reputation holds. Built once by the delivery engine; a
queue with its own retry schedule sends with a copy that carries it."""

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from iep_appliance.blobs import Blobs
from iep_appliance.clock import Clock
from iep_appliance.delivery.router import Router
from iep_appliance.domain.mime import Signer
from iep_appliance.domain.render import RenderLimits


class SendContext(msgspec.Struct):
    router: Router
    blobs: Blobs
    clock: Clock
    schedule: tuple[int, ...]
    message_id_domain: str
    metrics: Any = None
    signer: Signer | None = None  # DKIM hook: finished bytes in, signed bytes out
    render_limits: RenderLimits = RenderLimits()
    # DKIM: the signer for a From address's domain, None when it has no key.
    signer_for: Callable[[str], Awaitable[Signer | None]] | None = None
    # VERP: the envelope sender for a message id, e.g. bounce+TOKEN@bounce_domain.
    return_path: Callable[[str], str] | None = None
    # One-click unsubscribe: List-Unsubscribe header lines for a message id.
    unsubscribe_headers: Callable[[str], bytes] | None = None
    # Reputation hold (DESIGN §10.3): True while a tenant's sending is held.
    held: Callable[[str], bool] | None = None
