"""The layering of STYLE §1.8, kept by a test: every import arrow in iep_appliance/ is listed.

    domain             ← stdlib (no I/O, no clock), msgspec, pybars3, nh3, email_validator,
                         html2text (+ croniter: pure cron maths; dkim, cryptography: DKIM)
    store.base         ← domain
    store.sqlite       ← domain, store (+ clock for store.sqlite.store); imported by
                         store.factory and store.postgres only
    store.postgres     ← domain, store.base, store.sqlite (the same verbs through its dialect)
    store.factory      ← store.base, store.sqlite, store.postgres, config, clock (the backend)
    services           ← domain, store.base (+ infrastructure: blobs, clock, logs)
    delivery, webhooks ← domain, store.base (+ infrastructure: config, blobs, clock, logs,
                         metrics: the engine and the pools get their parts, never the runtime)
    api, admin         ← services, domain, logs (never store, not even for a type; never SQL)
    cli                ← config, services, runtime, wiring, app, domain, clock, logs, reload,
                         http_server, store.factory (`iep store copy`), blobs,
                         worker_supervisor (`iep serve --workers N`)
    worker_supervisor  ← config, logs, metrics, worker_role (starts the worker processes)
    http_server        ← config, clock, logs (uvicorn and the SIGTERM drain of `iep serve`)
    reload             ← config, delivery, domain, logs, wiring (SIGHUP: each part reconfigures)
    submission         ← services, domain, logs, config, clock (the SMTP edge)
    client             ← domain (standalone HTTP client; never store, services or runtime)
    health, housekeeping ← services, delivery, domain, store.base + infrastructure (what
                         /ready, /metrics and the dashboard read; the periodic round)
    config clock logs metrics blobs paths supervisor worker_role  ← domain
    wiring             ← anything but runtime and app (builds every part once)
    runtime            ← wiring, services, config, clock, logs (starts and stops the parts)
    app                ← anything

Every layer may import its own package and `iep_appliance` itself (`__version__`), except
domain. `runtime` is imported by `app` and `cli` only, even for a type annotation: every
other module gets the parts it uses (constructor arguments, Litestar's dependencies). Only
store/ touches sqlite3; only the web layer (api, admin, app) imports litestar.
"""

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "iep_appliance"
ROOT = "iep_appliance"

# croniter: pure cron maths with an explicit start time (domain/schedules.py); not in
# STYLE §1.8's list, accepted here as pure computation and reported to the lead.
# dkim (dkimpy) and cryptography: DKIM canonicalization and the deterministic RSA/Ed25519
# private-key operation of domain/dkim.py (DKIM signing), pure computation over bytes.
DOMAIN_THIRD_PARTY = {
    "msgspec", "pybars", "nh3", "email_validator", "html2text", "croniter", "dkim",
    "cryptography",
}  # fmt: skip
# Stdlib modules that mean I/O, concurrency runtimes, environment or clock reads.
DOMAIN_FORBIDDEN_STDLIB = {
    "asyncio", "sqlite3", "socket", "ssl", "selectors", "subprocess", "os", "pathlib",
    "shutil", "tempfile", "glob", "io", "time", "random", "secrets", "http", "urllib.request",
    "smtplib", "concurrent", "multiprocessing", "signal", "logging",
}  # fmt: skip
CLOCK_READS = {"now", "utcnow", "today", "time", "time_ns", "monotonic"}

INFRA = {
    "config", "config_env", "config_providers", "config_provider_section",
    "config_http_providers", "config_blobs", "config_compliance", "config_convert", "clock",
    "logs", "metrics",
    "blobs", "blobs_s3", "paths", "supervisor", "worker_role",
}  # fmt: skip
PARTS = {"services", "delivery", "domain", "store.base", "config", "clock", "logs", "metrics"}
# Tracing: `traces` is the off-by-default facade every layer that opens a span may import;
# `traces_otel` (the SDK, loaded only when tracing is on) sits beside it.
TRACES = {"traces"}
# layer -> layers it may import (besides itself and the root package).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "store.base": {"domain"},
    "store.sqlite": {"domain", "store.base"},
    # PostgreSQL runs the SQLite backend's verbs through its dialect (store/postgres/dialect.py).
    "store.postgres": {"domain", "store.base", "store.sqlite", "clock"},
    # open_store(config, clock): the one place besides runtime that names a backend.
    "store.factory": {
        "domain",
        "store.base",
        "store.sqlite",
        "store.postgres",
        "config",
        "clock",
    },
    "services": {"domain", "store.base", "blobs", "clock", "logs", *TRACES},
    "delivery": {
        "domain",
        "store.base",
        "graceful_stop",
        "config",
        "config_providers",
        "blobs",
        "clock",
        "logs",
        "metrics",
        *TRACES,
    },
    "webhooks": {
        "domain",
        "store.base",
        "graceful_stop",
        "config",
        "blobs",
        "clock",
        "logs",
        "metrics",
        *TRACES,
    },
    # Stopping a pool of job workers: the delivery engine's and the webhook dispatcher's.
    "graceful_stop": {"domain"},
    "api": {"services", "domain", "logs"},
    "admin": {"services", "domain", "logs"},
    "cli": {
        "store.factory",  # `iep store copy`: from one backend to another
        "blobs",
        "config",
        "services",
        "runtime",
        "wiring",
        "app",
        "domain",
        "clock",
        "logs",
        "reload",
        "http_server",
        "worker_supervisor",  # `iep serve --workers N`
        "worker_role",
    },
    # `iep serve --workers N`: the supervisor process starts and restarts the workers.
    "worker_supervisor": {"config", "logs", "metrics", "worker_role"},
    # `iep serve`'s listener: uvicorn and the SIGTERM drain (http_server.py).
    "http_server": {"config", "clock", "logs"},
    "__main__": {"cli"},
    # The standalone Python client (DESIGN §4.2): HTTP only, plus domain/signing for webhooks.
    "client": {"domain"},
    # SIGHUP config reload: every part takes its new section through its own `reconfigure`.
    "reload": {"config", "config_providers", "delivery", "domain", "logs", "wiring"},
    # The SMTP submission edge: aiosmtpd in front of services, like api/.
    "submission": {"services", "domain", "logs", "config", "clock"},
    "health": PARTS,
    "housekeeping": PARTS,
    # The composition root: builds every part once (the store through store.factory).
    "wiring": {
        *PARTS,
        *INFRA,
        "store.factory",
        "submission",
        "webhooks",
        "health",
        "housekeeping",
        "wiring_compliance",
        *TRACES,
    },
    # The compliance parts (audit, GDPR, proxies, traces), built for the wiring.
    "wiring_compliance": {*PARTS, *INFRA, *TRACES},
    "runtime": {"wiring", "services", "config", "clock", "logs", "worker_role"},
    **{name: {"domain"} for name in INFRA},
    "traces": {"traces_otel", "traces_off"},  # traces_otel: inside configure(), when on
    "traces_off": set(),
    "traces_otel": {"domain", "logs", "traces_off"},
}
EXTRA: dict[str, set[str]] = {
    "iep_appliance.store.sqlite.store": {"clock"},
    # the IEP_SECTION__KEY overrides, the provider tables and the compliance keys, split out
    "iep_appliance.config": {
        "config_env",
        "config_providers",
        "config_blobs",
        "config_compliance",
        "config_convert",
    },
    # the provider Structs: their shared base, and the HTTP-API ones joined in the union
    "iep_appliance.config_providers": {"config_provider_section", "config_http_providers"},
    "iep_appliance.config_http_providers": {"config_provider_section"},
    "iep_appliance.blobs": {"config_blobs", "blobs_s3"},
    "iep_appliance.blobs_s3": {"config_blobs"},
}
RUNTIME_IMPORTERS = {"app", "cli"}
# store.postgres reads a SQLite file too: `iep store copy`'s source.
SQLITE_LAYERS = {"store.base", "store.sqlite", "store.postgres"}
WEB_LAYERS = {"api", "admin", "app"}


@dataclass(frozen=True)
class Arrow:
    module: str  # importer, dotted
    target: str  # imported module, dotted (absolute)
    names: tuple[str, ...]  # names bound by `from target import a, b`
    line: int
    type_checking: bool


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of an iep_appliance module; None for the root package itself."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if parts[0] == "store":
        if len(parts) == 1 or parts[1] in ("base", "protocols"):
            return "store.base"
        return "store.sqlite" if parts[1] == "sqlite" else f"store.{parts[1]}"
    return parts[0]


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def arrows(path: Path) -> Iterator[Arrow]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module_name(path)
    is_pkg = path.name == "__init__.py"

    def visit(node: ast.AST, type_checking: bool) -> Iterator[Arrow]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit_stmt(stmt, True)
                for stmt in child.orelse:
                    yield from visit_stmt(stmt, type_checking)
            else:
                yield from visit_stmt(child, type_checking)

    def visit_stmt(node: ast.AST, type_checking: bool) -> Iterator[Arrow]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Arrow(module, alias.name, (), node.lineno, type_checking)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            names = tuple(a.asname or a.name for a in node.names)
            yield Arrow(module, target, names, node.lineno, type_checking)
            # `from iep_appliance.api import messages` imports iep_appliance.api.messages too.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*sub.split(".")) / "__init__.py"
                ).exists():
                    yield Arrow(module, sub, (alias.asname or alias.name,), node.lineno, False)
        else:
            yield from visit(node, type_checking)

    yield from visit(tree, False)


def violations() -> list[str]:
    found: list[str] = []
    stdlib = sys.stdlib_module_names
    for path in package_modules():
        where = path.relative_to(PACKAGE.parent)
        for arrow in arrows(path):
            src = layer_of(arrow.module)
            top = arrow.target.split(".")[0]
            if top != ROOT:
                found += _third_party(where, src, arrow, top, stdlib)
                continue
            dst = layer_of(arrow.target)
            if src in (None, "app") or dst is None or dst == src:
                continue
            if dst == "store.sqlite" and src not in ("store.factory", "store.postgres"):
                found.append(f"{where}:{arrow.line}: {src} → store.sqlite (store.factory only)")
                continue
            if dst == "runtime" and src not in RUNTIME_IMPORTERS:
                found.append(f"{where}:{arrow.line}: {src} imports runtime (app and cli only)")
                continue
            allowed = ALLOWED.get(src or "", set()) | EXTRA.get(arrow.module, set())
            if src not in ALLOWED:
                found.append(f"{where}: layer {src!r} is not in STYLE §1.8; add it here")
            elif dst not in allowed:
                found.append(f"{where}:{arrow.line}: {src} → {arrow.target} is not allowed")
    return found


def _third_party(
    where: Path, src: str | None, arrow: Arrow, top: str, stdlib: frozenset[str]
) -> list[str]:
    out = []
    if src == "domain":
        dotted = arrow.target
        if top in stdlib:
            if top in DOMAIN_FORBIDDEN_STDLIB or dotted in DOMAIN_FORBIDDEN_STDLIB:
                out.append(f"{where}:{arrow.line}: domain imports {dotted} (I/O or clock)")
        elif top not in DOMAIN_THIRD_PARTY and top != "__future__":
            out.append(f"{where}:{arrow.line}: domain imports third-party {dotted}")
    if top == "sqlite3" and src not in SQLITE_LAYERS:
        out.append(f"{where}:{arrow.line}: {src} imports sqlite3 (SQL belongs in store/)")
    if top == "litestar" and src not in WEB_LAYERS:
        out.append(f"{where}:{arrow.line}: {src} imports litestar (HTTP types stay in api/)")
    return out


def domain_clock_reads() -> list[str]:
    found = []
    for path in (PACKAGE / "domain").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_READS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"datetime", "date", "time"}
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: clock read")
    return found


def test_every_import_arrow_is_allowed_by_the_layering() -> None:
    assert violations() == []


def test_the_domain_never_reads_the_clock() -> None:
    assert domain_clock_reads() == []


def test_the_walker_sees_the_arrows_it_must_judge() -> None:
    seen = {(a.module, a.target) for p in package_modules() for a in arrows(p)}

    assert ("iep_appliance.wiring", "iep_appliance.store.factory") in seen
    assert ("iep_appliance.store.factory", "iep_appliance.store.sqlite.store") in seen
    assert ("iep_appliance.services.messages", "iep_appliance.store.base") in seen
    assert ("iep_appliance.app", "iep_appliance.api.messages") in seen


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from iep_appliance.store.sqlite.db import Database\n", "api/x.py", "store.sqlite"),
        ("import sqlite3\n", "services/x.py", "sqlite3"),
        ("from iep_appliance.api import problems\n", "services/x.py", "services → "),
        ("import os\n", "domain/x.py", "domain imports os"),
        ("import httpx\n", "domain/x.py", "third-party httpx"),
        ("from iep_appliance.config import Config\n", "domain/x.py", "domain → "),
        ("from litestar import get\n", "delivery/x.py", "litestar"),
        ("from iep_appliance.runtime import Runtime\nr = Runtime(None)\n", "api/x.py", "runtime"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from iep_appliance.runtime import Runtime\n",
            "delivery/x.py",
            "delivery imports runtime",
        ),
        ("from iep_appliance.runtime import Runtime\n", "reload.py", "reload imports runtime"),
        ("from iep_appliance.store.base import Store\n", "admin/x.py", "admin → "),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from iep_appliance.store.base import Store\n",
            "api/x.py",
            "api → ",
        ),
        ("from iep_appliance.store.sqlite.db import Database\n", "runtime.py", "store.sqlite"),
        ("from iep_appliance.delivery import engine\n", "webhooks/x.py", "webhooks → "),
    ],
)
def test_a_forbidden_arrow_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, module: str, expected: str
) -> None:
    fake = tmp_path / "iep_appliance"
    target = fake / module
    target.parent.mkdir(parents=True)
    target.write_text(source)
    for pkg in ("store/sqlite", "api", "delivery"):
        (fake / pkg).mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)

    found = violations()

    assert any(expected in v for v in found), found


def test_runtime_named_only_in_an_annotation_is_still_an_arrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "iep_appliance"
    (fake / "api").mkdir(parents=True)
    (fake / "api" / "x.py").write_text(
        "from iep_appliance.runtime import Runtime\n"
        "def f(rt: Runtime) -> Runtime:\n    x: Runtime = rt\n    return x\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)

    assert violations() == ["iep_appliance/api/x.py:1: api imports runtime (app and cli only)"]


def import_cycles() -> list[list[str]]:
    """Every circle of imports, counting those in a function or under TYPE_CHECKING too (the
    one `delivery/engine.py` ↔ `runtime.py` had was both)."""
    graph: dict[str, set[str]] = {}
    for path in package_modules():
        for arrow in arrows(path):
            if arrow.target.startswith(f"{ROOT}.") and arrow.target != arrow.module:
                graph.setdefault(arrow.module, set()).add(arrow.target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_no_module_imports_itself_round_a_circle() -> None:
    assert import_cycles() == []


def test_the_cycle_finder_sees_a_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "iep_appliance"
    (fake / "delivery").mkdir(parents=True)
    (fake / "delivery" / "engine.py").write_text("from iep_appliance import runtime\n")
    (fake / "runtime.py").write_text("from iep_appliance.delivery.engine import X\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)

    assert import_cycles() == [
        ["iep_appliance.delivery.engine", "iep_appliance.runtime", "iep_appliance.delivery.engine"]
    ]
