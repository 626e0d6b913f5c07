"""SQLite's SQL, as the store's verb modules write it, into PostgreSQL's.

Why translate instead of writing every verb twice: the verbs (`store/sqlite/*.py`) are plain
functions over a DB-API connection, and all but a handful of their statements are already
portable SQL. A second copy of 150 verbs would drift from the first; one copy run through a
small, tested translation cannot. What differs, and how it is mapped:

- placeholders: `?` → `%s`, numbered `?3` → `%s` with the parameters reordered, named `:now`
  → `%(now)s`; a literal `%` (LIKE patterns) is doubled;
- `INSERT OR IGNORE` → `ON CONFLICT DO NOTHING`; `INSERT OR REPLACE` → an upsert on the
  table's primary key (`PRIMARY_KEYS`); in `DO UPDATE SET`, a bare column on the right
  (`count = count + 1`) names the existing row, as SQLite reads it;
- JSON: `json_each(x[, '$.k'])` → a LATERAL derived table of `value` (text) and `type` over
  `json_array_elements` (a non-array member reads as empty; `col IN (SELECT value …)` compares
  as text), `json_type(x, '$.k')` → `json_typeof`;
- functions and names: `instr` → `strpos`, `rowid` → `ctid`, `zeroblob(n)` → n zero bytes,
  `sum(a = 'b')` → a CASE count, the reserved word `window` quoted;
- the job claim takes its rows `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never wait
  on, or take, each other's rows; other plain SELECTs of a write transaction read `FOR SHARE`
  (`lock=True`, see db.py).

Translations are cached per statement text: the cost is paid once per distinct statement.
"""

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Tables written with INSERT OR REPLACE, and the key that decides "the same row".
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "outbox": ("message_id",),
    "admin_sessions": ("id_hash",),
    "message_raw": ("message_id",),
    "domain_checks": ("domain",),
    "dkim_keys": ("domain", "selector"),
    "suppression_list": ("tenant_id", "email"),
    "bounce_counts": ("tenant_id", "email"),
    "rate_windows": ("tenant_id", "window", "start"),
}

_NUMBERED = re.compile(r"\?(\d+)")
_INSERT_OR = re.compile(r"\bINSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\sRETURNING\s", re.IGNORECASE)
_COLUMNS = re.compile(r"INTO\s+\w+\s*\(([^)]*)\)", re.IGNORECASE)
_JSON_EACH = re.compile(
    r"json_each\(\s*([\w.?]+)\s*(?:,\s*'\$\.(\w+)'\s*)?\)(?:\s+(?:AS\s+)?(?!WHERE\b)(\w+))?",
    re.IGNORECASE,
)
_JSON_TYPE = re.compile(r"json_type\(\s*([\w.]+)\s*,\s*'\$\.(\w+)'\s*\)")
_UPSERT_SET = re.compile(
    r"\bDO\s+UPDATE\s+SET\s+(.*?)(\s+WHERE\s+.*?)?(\s+RETURNING\s.*)?$", re.S | re.I
)
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_SUM_EQ = re.compile(r"\bsum\(\s*([\w.]+)\s*=\s*('[^']*')\s*\)", re.IGNORECASE)
_ZEROBLOB = re.compile(r"zeroblob\(\s*\?\s*\)")
_KEYWORDS = re.compile(r"(?<![\"\w.])window(?![\"\w])")
_CLAIM = re.compile(
    r"(SELECT\s+id\s+FROM\s+jobs\s+WHERE\b(?:(?!SELECT\s+id\s+FROM\s+jobs).)*?"
    r"\bLIMIT\s+(?:\?|:\w+)(?:\s+OFFSET\s+(?:\?|:\w+))?)",
    re.IGNORECASE | re.S,
)
_ALIAS_FOLLOWS = re.compile(
    r"\s*(?:AS\s+)?(?!(?:WHERE|ORDER|GROUP|LIMIT|UNION|ON|JOIN|LEFT|INNER|HAVING|OFFSET)\b)[A-Za-z_]\w*",
    re.I,
)


class Translated:
    """A PostgreSQL statement and, for numbered placeholders, the parameter order it takes."""

    __slots__ = ("order", "sql")

    def __init__(self, sql: str, order: tuple[int, ...] | None) -> None:
        self.sql = sql
        self.order = order

    def params(self, given: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.order is None or not isinstance(given, list | tuple):
            return given
        return [given[i - 1] for i in self.order]


_UNLOCKABLE = re.compile(
    r"\b(?:count|sum|min|max|avg|group_concat|total)\s*\(|\bGROUP\s+BY\b|\bDISTINCT\b"
    r"|\bUNION\b|\bJOIN\b|\bOVER\s*\(|\bHAVING\b|\bEXCEPT\b|\bINTERSECT\b",
    re.I,
)


def _share_lock(sql: str) -> str:
    """A plain single-table SELECT inside a write transaction reads `FOR SHARE`: a row a write
    function has read cannot change under it before it commits (what SQLite's one writer gives
    for free). Aggregates, joins and unions cannot be locked and are left as they are."""
    head = sql.lstrip()
    if head[:6].upper() != "SELECT" or " FROM " not in head.upper() or _UNLOCKABLE.search(sql):
        return sql
    return sql.rstrip().rstrip(";") + " FOR SHARE"


@functools.lru_cache(maxsize=8192)
def translate(sql: str, lock: bool = False) -> Translated:
    out = _share_lock(sql) if lock else sql
    out = _insert_or(out)
    out = _json(out)
    out = _SUM_EQ.sub(r"sum(CASE WHEN \1 = \2 THEN 1 ELSE 0 END)", out)
    out = _ZEROBLOB.sub("decode(repeat('00', ?), 'hex')", out)
    out = re.sub(r"\binstr\(", "strpos(", out)
    out = re.sub(r"\browid\b", "ctid", out)
    out = re.sub(r"\bLIMIT\s+-1\b", "LIMIT ALL", out)
    out = _KEYWORDS.sub('"window"', out)
    out = _claim(out)
    out = _scalar_extremes(out)
    out = _alias_derived(out)
    order: list[int] = []
    pieces: list[str] = []
    at = 0
    for lit in _LITERAL.finditer(out):
        pieces.append(_placeholders(out[at : lit.start()], order))
        pieces.append(lit.group(0).replace("%", "%%"))
        at = lit.end()
    pieces.append(_placeholders(out[at:], order))
    return Translated("".join(pieces), tuple(order) if order else None)


def _placeholders(code: str, order: list[int]) -> str:
    code = code.replace("%", "%%")
    code = _NAMED.sub(r"%(\1)s", code)

    def numbered(m: re.Match[str]) -> str:
        order.append(int(m.group(1)))
        return "%s"

    code = _NUMBERED.sub(numbered, code)
    return code.replace("?", "%s")


def _insert_or(sql: str) -> str:
    found = _INSERT_OR.search(sql)
    if found is None:
        return _qualify_upsert(sql)
    verb, table = found.group(1).upper(), found.group(2)
    sql = sql[: found.start()] + f"INSERT INTO {table}" + sql[found.end() :]
    if verb == "IGNORE":
        clause = " ON CONFLICT DO NOTHING"
    else:
        key = PRIMARY_KEYS[table]
        cols = _insert_columns(sql)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
        target = ", ".join(key)
        clause = f" ON CONFLICT ({target}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")
    ret = _RETURNING.search(sql)
    if ret is None:
        return sql.rstrip().rstrip(";") + clause
    return sql[: ret.start()] + clause + sql[ret.start() :]


def _insert_columns(sql: str) -> list[str]:
    found = _COLUMNS.search(sql)
    return [c.strip() for c in found.group(1).split(",")] if found else []


def _qualify_upsert(sql: str) -> str:
    """`DO UPDATE SET count = count + 1` → `… = stats_hourly.count + 1` (PostgreSQL calls the
    bare name ambiguous between the existing and the proposed row)."""
    found = _UPSERT_SET.search(sql)
    table = re.search(r"\bINSERT\s+INTO\s+(\w+)", sql, re.I)
    if found is None or table is None:
        return sql
    cols = _insert_columns(sql)
    name = table.group(1)
    parts = []
    for assignment in found.group(1).split(","):
        lhs, eq, rhs = assignment.partition("=")
        for col in cols:
            rhs = re.sub(rf"(?<![.\w]){col}(?![\w(])", f"{name}.{col}", rhs)
        parts.append(lhs + eq + rhs)
    return sql[: found.start(1)] + ",".join(parts) + sql[found.end(1) :]


_IN_JSON = re.compile(r"([\w.]+)(\s+(?:NOT\s+)?IN\s*\(\s*SELECT\s+(?:lower\()?value\b)", re.I)


def _json(sql: str) -> str:
    # `id IN (SELECT value FROM json_each(?))`: SQLite compares 7 and '7' as equal after its
    # affinity rules; PostgreSQL wants one type, and json text is text.
    sql = _IN_JSON.sub(r"(\1)::text\2", sql)

    def each(m: re.Match[str]) -> str:
        source, key, alias = m.group(1), m.group(2), m.group(3) or "je"
        array = _array_at(source, key) if key else f"({source})::json"
        return (
            "LATERAL (SELECT e #>> '{}' AS value, CASE json_typeof(e) WHEN 'string' THEN 'text'"
            f" ELSE json_typeof(e) END AS type FROM json_array_elements({array}) AS e) AS {alias}"
        )

    sql = _JSON_EACH.sub(each, sql)
    return _JSON_TYPE.sub(lambda m: f"json_typeof((({m.group(1)})::json -> '{m.group(2)}'))", sql)


def _array_at(expr: str, key: str) -> str:
    """`expr`'s member `key` when it is a JSON array, else an empty one (as SQLite's
    json_each over a non-array yields no rows the verbs count)."""
    member = f"(({expr})::json -> '{key}')"
    return f"(CASE WHEN json_typeof({member}) = 'array' THEN {member} ELSE '[]'::json END)"


def _claim(sql: str) -> str:
    if not sql.lstrip().upper().startswith("UPDATE JOBS"):
        return sql
    return _CLAIM.sub(r"\1 FOR UPDATE SKIP LOCKED", sql)


def _closing(sql: str, open_at: int) -> int:
    """The index of the parenthesis that closes the one at `open_at` (quotes respected)."""
    depth, i, quoted = 0, open_at, False
    while i < len(sql):
        ch = sql[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced parentheses in {sql!r}")


def _top_level_commas(text: str) -> int:
    depth = commas = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        commas += ch == "," and depth == 0
    return commas


def _scalar_extremes(sql: str) -> str:
    """SQLite's two-argument `max(a, b)` / `min(a, b)` are PostgreSQL's greatest / least."""
    for name, pg in (("max", "greatest"), ("min", "least")):
        at = 0
        pattern = re.compile(rf"(?<![\w.]){name}\(", re.I)
        while (m := pattern.search(sql, at)) is not None:
            close = _closing(sql, m.end() - 1)
            if _top_level_commas(sql[m.end() : close]) >= 1:
                sql = sql[: m.start()] + pg + sql[m.start() + len(name) :]
            at = m.end()
    return sql


def _alias_derived(sql: str) -> str:
    """PostgreSQL before 16 wants a name on every subquery in FROM; SQLite does not."""
    at, n = 0, 0
    pattern = re.compile(r"\bFROM\s*\(\s*SELECT\b", re.I)
    while (m := pattern.search(sql, at)) is not None:
        open_at = sql.index("(", m.start())
        close = _closing(sql, open_at)
        if not _ALIAS_FOLLOWS.match(sql, close + 1):
            n += 1
            sql = sql[: close + 1] + f" AS _d{n}" + sql[close + 1 :]
        at = open_at + 1
    return sql
