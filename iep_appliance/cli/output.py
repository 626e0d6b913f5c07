"""How every `iep` command answers: one JSON document with `--json`, else short text lines;
errors as `error: ...` lines on stderr; and the exit codes (documented in `iep --help`)."""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from iep_appliance.config import Config
from iep_appliance.domain.errors import IEPError, NotFound

OK = 0
REFUSED = 1  # bad input, a conflict, a bad config
USAGE = 2  # argparse's own code for a bad command line
NOT_FOUND = 3

EXIT_CODES = "exit codes: 0 done, 1 refused (bad input, conflict, bad config), 2 usage, 3 not found"

Command = Callable[[Config, argparse.Namespace], Awaitable[int]]


def fail(lines: list[str], code: int = REFUSED) -> int:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return code


def emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    """`obj` as JSON with --json, else `text` (nothing when it is empty)."""
    if getattr(args, "json", False):
        print(json.dumps(obj))
    elif text:
        print(text)


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first row is the header."""
    if len(rows) == 1:
        return "(none)"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def run(cfg: Config, args: argparse.Namespace, command: Command) -> int:
    """Run an async command; IEP errors become `error:` lines and an exit code."""
    try:
        return asyncio.run(command(cfg, args))
    except NotFound as exc:
        return fail([exc.detail], NOT_FOUND)
    except IEPError as exc:
        errors = getattr(exc, "errors", None)
        if errors:
            return fail([f"{e.path}: {e.message}" for e in errors])
        return fail([exc.detail])
