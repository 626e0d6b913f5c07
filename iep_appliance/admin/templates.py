"""Rendering for the dashboard: the Jinja2 environment and `page()`, which renders a page or,
for an HTMX request, only its partial (`_name.html`). Templates live in webui/templates/admin
(located by paths.py and handed in by app.py); every page extends `admin/base.html`."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from iep_appliance import __version__
from iep_appliance.domain.scopes import ALL_SCOPES
from iep_appliance.services.keys import ROTATE_GRACE_SECONDS

# (label, href) of the navigation bar; the labels are a contract (DESIGN §4.2).
NAV: tuple[tuple[str, str], ...] = (
    ("Overview", "/admin/"),
    ("Messages", "/admin/messages"),
    ("Outbox", "/admin/outbox"),
    ("Tenants", "/admin/tenants"),
    ("Queue", "/admin/queue"),
    ("SMTP & APIs", "/admin/connect"),  # how a product connects (issue 15)
    ("Templates", "/admin/templates"),  # stored templates
    ("Engagement", "/admin/engagement"),  # opens and clicks
)
# Shown to admins only, after NAV.
ADMIN_NAV: tuple[tuple[str, str], ...] = (
    ("Users", "/admin/users"),
    ("Audit log", "/admin/audit"),
    ("Nodes", "/admin/nodes"),
)
HTMX_JS = "/admin/static/htmx-2.0.11.min.js"


def age(seconds: float | None) -> str:
    """'—', '42 s', '7 min', '3 h 5 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    d = timedelta(seconds=s)
    return f"{d.days} d {d.seconds // 3600} h"


def when(iso: str | None) -> str:
    """'2026-01-01T10:30:00.123Z' → '2026-01-01 10:30:00'."""
    return iso[:19].replace("T", " ") if iso else "—"


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def template_config(directory: Path) -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=FileSystemLoader(str(directory)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(age=age, when=when, size=size)
    env.globals.update(
        NAV=NAV,
        ADMIN_NAV=ADMIN_NAV,
        HTMX_JS=HTMX_JS,
        VERSION=__version__,
        ROTATE_GRACE_SECONDS=ROTATE_GRACE_SECONDS,
        SCOPES=ALL_SCOPES,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def is_htmx(request: Request) -> bool:
    """An HTMX swap (not a history restore, which needs the whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != (
        "true"
    )


def page(
    request: Request,
    name: str,
    *,
    partial: str | None = None,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """Render `admin/<name>.html`, or `admin/<partial>.html` alone for an HTMX request."""
    session = request.state.get("admin_session")
    context.setdefault("active", "")
    context.update(session=session, csrf_token=session.csrf_token if session else "")
    chosen = partial if partial and is_htmx(request) else name
    return Template(
        template_name=f"admin/{chosen}.html",
        context=context,
        status_code=status,
        cookies=cookies or [],
        headers={"Vary": "HX-Request"},
    )
