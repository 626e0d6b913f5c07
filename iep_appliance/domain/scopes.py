"""API key scopes: the list, what a new key gets, and reading them from input. Pure.

`send` accepts mail, `read` reads messages and events, `admin` manages the tenant (keys,
webhooks, settings). A sandbox key cannot manage the tenant unless `admin` is asked for by
name (DESIGN §10.1).
"""

from typing import Literal, get_args

Scope = Literal["send", "read", "admin"]
ALL_SCOPES: tuple[str, ...] = get_args(Scope)
SANDBOX_DEFAULT_SCOPES: tuple[str, ...] = ("send", "read")
LIVE_DEFAULT_SCOPES: tuple[str, ...] = ("send",)


def parse_scopes(text: str | list[str]) -> tuple[str, ...]:
    """Scopes from "send,read" or a list. Raises ValueError naming an unknown scope."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    items = [s for s in items if s]
    if not items:
        raise ValueError("at least one scope is required")
    for s in items:
        if s not in ALL_SCOPES:
            raise ValueError(f"unknown scope {s!r} (expected send, read or admin)")
    return tuple(s for s in ALL_SCOPES if s in items)


def default_scopes(sandbox: bool) -> tuple[str, ...]:
    """Scopes of a key created through the API without `scopes`."""
    return SANDBOX_DEFAULT_SCOPES if sandbox else LIVE_DEFAULT_SCOPES
