"""All SQL for per-tenant rate windows (`rate_windows`). Runs on a connection handed in by the
writer or a reader; never awaits. Counting itself happens in memory (services/ratelimits.py);
this module only persists increments and reads the current windows back at start."""

import sqlite3

from iep_appliance.domain.ratelimit import WindowCount

# The counts of the windows that are current at start (one start per window name).
SELECT_CURRENT = "SELECT tenant_id, window, count FROM rate_windows WHERE window = ? AND start = ?"
# Add a (possibly negative: a refund) delta; a count never goes below zero.
ENSURE = "INSERT OR IGNORE INTO rate_windows (tenant_id, window, start, count) VALUES (?, ?, ?, 0)"
ADD = (
    "UPDATE rate_windows SET count = max(0, count + ?)"
    " WHERE tenant_id = ? AND window = ? AND start = ?"
)
# Windows that have ended are of no further use.
PURGE = "DELETE FROM rate_windows WHERE window = ? AND start < ?"


def current(conn: sqlite3.Connection, starts: dict[str, str]) -> list[WindowCount]:
    """The count of every window starting at `starts[window]`."""
    out: list[WindowCount] = []
    for window, start in starts.items():
        for tenant_id, name, count in conn.execute(SELECT_CURRENT, (window, start)):
            out.append(WindowCount(tenant_id=tenant_id, window=name, count=int(count)))
    return out


def add(
    conn: sqlite3.Connection, deltas: dict[tuple[str, str, str], int], purge: dict[str, str]
) -> None:
    """Apply `deltas[(tenant_id, window, start)]`; drop windows older than `purge[window]`."""
    changed = [(t, w, s, n) for (t, w, s), n in deltas.items() if n]
    conn.executemany(ENSURE, [(t, w, s) for t, w, s, _n in changed])
    conn.executemany(ADD, [(n, t, w, s) for t, w, s, n in changed])
    for window, start in purge.items():
        conn.execute(PURGE, (window, start))
