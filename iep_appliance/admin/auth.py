"""Operator sessions for /admin: the login form, logout, and the guard every route passes.

A session is a random id (the cookie's value: HttpOnly, SameSite=Strict, Secure when the
browser came over https, Path=/admin) kept durably by its hash (services/admin_sessions.py),
so a restart signs nobody out, and cached in memory. Every POST of a signed-in operator
carries the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`); the
login form uses a double-submit cookie instead. Failed logins are limited per account *and*
client address together (so an attacker elsewhere cannot lock the operator out) and, more
loosely, per client address across accounts; in memory, answered 429 with Retry-After.
Roles: `viewer` reads, `admin` also acts (routes.py gives each handler the least role it
needs).
"""

import hmac
import math
import secrets
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect

from iep_appliance.admin.templates import page
from iep_appliance.domain.audit import AuditActor, note
from iep_appliance.services.admin_sessions import SessionRecords, csrf_of
from iep_appliance.services.dashboard import DashboardService
from iep_appliance.services.dashboard_actions import DashboardActions

COOKIE = "iep_admin"
LOGIN_COOKIE = "iep_admin_login"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000
# Failed logins allowed within the window, then refused: per (account, client address), and per
# client address over all accounts (one address trying many accounts).
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 20
FAILURE_WINDOW = 900.0
ROLES = {"viewer": 0, "admin": 1}
PUBLIC = "public"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class TimeSource(Protocol):
    """The part of the runtime's Clock that sessions and the limiter read."""

    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...


class LoginRequired(Exception):
    """No valid session: the browser goes to the login form."""


class Forbidden(Exception):
    """Signed in, but the role or the CSRF token does not allow this request."""


class AdminSession(msgspec.Struct, frozen=True):
    id: str
    email: str
    role: str
    csrf_token: str
    expires: int  # unix seconds

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


class Sessions:
    """Live sessions by id: an in-memory cache over the durable records (services/
    admin_sessions.py), so a restart keeps operators signed in and a request costs no
    database read once its session is cached."""

    def __init__(self, clock: TimeSource, records: SessionRecords) -> None:
        self.clock = clock
        self.records = records
        self._by_id: dict[str, AdminSession] = {}
        self._dropped: set[str] = set()  # ended by drop(); removed from the records lazily

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    async def create(self, email: str, role: str) -> tuple[AdminSession, str]:
        """A new session and its cookie value (the session id)."""
        now = self._now()
        self._by_id = {k: s for k, s in self._by_id.items() if s.expires > now}
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        session_id = secrets.token_urlsafe(32)
        session = AdminSession(
            id=session_id,
            email=email,
            role=role,
            csrf_token=csrf_of(session_id),
            expires=now + SESSION_SECONDS,
        )
        await self.records.save(
            session_id, email, role, datetime.fromtimestamp(session.expires, UTC)
        )
        self._by_id[session_id] = session
        return session, session_id

    async def lookup(self, cookie: str | None) -> AdminSession | None:
        if not cookie or len(cookie) > 100:
            return None
        if cookie in self._dropped:
            self._dropped.discard(cookie)
            await self.records.drop(cookie)
            return None
        session = self._by_id.get(cookie)
        if session is None:
            found = await self.records.find(cookie)
            if found is None:
                return None
            email, role, expires = found
            session = AdminSession(
                id=cookie,
                email=email,
                role=role,
                csrf_token=csrf_of(cookie),
                expires=int(expires.timestamp()),
            )
            if len(self._by_id) < MAX_SESSIONS:
                self._by_id[cookie] = session
        if session.expires <= self._now():
            self._by_id.pop(cookie, None)
            return None
        return session

    def drop(self, session_id: str) -> None:
        """End a session now (its durable record goes on its next use or at `end`)."""
        self._by_id.pop(session_id, None)
        if len(self._dropped) < MAX_SESSIONS:
            self._dropped.add(session_id)

    async def end(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)
        self._dropped.discard(session_id)
        await self.records.drop(session_id)

    async def end_all_of(self, email: str) -> None:
        """Sign an operator out everywhere (their role or account changed): the sessions held
        here and every stored one, so none comes back after a restart."""
        for session_id, session in list(self._by_id.items()):
            if session.email == email:
                self._by_id.pop(session_id, None)
                self._dropped.discard(session_id)
        await self.records.drop_all_of(email)


class LoginLimiter:
    """At most `limit` failed logins per key per FAILURE_WINDOW; `login_keys` makes the keys."""

    def __init__(self, clock: TimeSource) -> None:
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        cutoff = self.clock.monotonic() - FAILURE_WINDOW
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until a login may be tried again (0: now)."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            limit = MAX_CLIENT_FAILURES if key.startswith("client:") else MAX_FAILURES
            if len(times) >= limit:
                # The oldest failure that keeps the count at the limit leaves the window first.
                oldest = times[len(times) - limit]
                wait = max(wait, oldest + FAILURE_WINDOW - self.clock.monotonic())
        return wait

    def failed(self, keys: list[str]) -> None:
        if len(self._failures) > 100_000:  # bounded: forget everyone rather than grow
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(self.clock.monotonic())

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


class AdminState(msgspec.Struct):
    sessions: Sessions
    limiter: LoginLimiter
    dashboard: DashboardService
    actions: DashboardActions


def install_admin(
    app: Litestar,
    clock: TimeSource,
    records: SessionRecords,
    dashboard: DashboardService,
    actions: DashboardActions,
) -> None:
    """The dashboard's in-memory state (sessions, login limiter) for this app."""
    app.state["iep_admin"] = AdminState(
        sessions=Sessions(clock, records),
        limiter=LoginLimiter(clock),
        dashboard=dashboard,
        actions=actions,
    )


def admin_state(app: Litestar) -> AdminState:
    """The dashboard's in-memory state, installed by `install_admin`."""
    found: AdminState = app.state["iep_admin"]
    return found


def dashboard(request: Request) -> DashboardService:
    return admin_state(request.app).dashboard


def actions(request: Request) -> DashboardActions:
    return admin_state(request.app).actions


def current(request: Request) -> AdminSession:
    """The signed-in operator of a guarded request."""
    session: AdminSession = request.state["admin_session"]
    return session


async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Every /admin route: a valid session, the handler's role, and a CSRF token on POST.
    A handler without a role in its `opt` needs `admin` (closed by default)."""
    role = handler.opt.get("role", "admin")
    if role == PUBLIC:
        return
    session = await admin_state(connection.app).sessions.lookup(connection.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired()
    connection.state.admin_session = session
    if connection.scope["method"] in UNSAFE_METHODS:
        token = connection.headers.get("x-csrf-token")
        if token is None:
            form = await Request(connection.scope, connection.receive).form()
            token = form.get("csrf_token")
        if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf_token):
            raise Forbidden("The form's CSRF token is missing or wrong; reload the page.")
    if ROLES.get(session.role, -1) < ROLES.get(role, len(ROLES)):
        raise Forbidden(f"This needs the {role} role; you are signed in as {session.role}.")


def safe_next(target: str | None) -> str:
    """Where to go after login: a dashboard path only (never another site)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin/"


def is_https(request: Request) -> bool:
    """Did the browser use TLS (directly, or to the proxy in front: X-Forwarded-Proto)?"""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _strict_cookie(
    request: Request[Any, Any, Any], key: str, value: str, path: str, max_age: int
) -> Cookie:
    """A dashboard cookie: HTTP-only, same-site strict, and secure when served over HTTPS."""
    return Cookie(
        key=key,
        value=value,
        path=path,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        max_age=max_age,
    )


def _login_page(
    request: Request, error: str = "", status: int = 200, email: str = "", target: str = ""
) -> Response[Any]:
    token = secrets.token_urlsafe(24)
    cookie = _strict_cookie(request, LOGIN_COOKIE, token, "/admin/login", 3600)
    return page(
        request,
        "login",
        status=status,
        cookies=[cookie],
        login_token=token,
        error=error,
        email=email,
        next=target,
    )


@get("/login")
async def login_form(request: Request) -> Response[Any]:
    target = request.query_params.get("next", "")
    if await admin_state(request.app).sessions.lookup(request.cookies.get(COOKIE)):
        return Redirect(path=safe_next(target), status_code=303)
    return _login_page(request, target=target)


@post("/login", status_code=303)
async def login(request: Request) -> Response[Any]:
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    target = str(form.get("next") or "")
    token = str(form.get("csrf_token") or "")
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not token or not hmac.compare_digest(token, expected):
        return _login_page(request, "The form expired; please sign in again.", 403, email, target)
    state = admin_state(request.app)
    client = client_of(request)
    keys = [f"account:{email}|client:{client}", f"client:{client}"]
    wait = state.limiter.retry_after(keys)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        msg = f"Too many failed sign-ins. Try again in about {minutes} min."
        _note_login(request, email, "operator.login_refused", "too many failed sign-ins")
        refused = _login_page(request, msg, 429, email, target)
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    user = await state.dashboard.authenticate(email, password) if email and password else None
    if user is None:
        state.limiter.failed(keys)
        _note_login(request, email, "operator.login_failed", "wrong email or password")
        return _login_page(request, "Wrong email or password.", 401, email, target)
    state.limiter.succeeded(keys[:1])
    _note_login(request, user.email, "operator.login", "")
    _session, value = await state.sessions.create(user.email, user.role)
    response = Redirect(path=safe_next(target), status_code=303)
    response.set_cookie(_strict_cookie(request, COOKIE, value, "/admin", SESSION_SECONDS))
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


def _note_login(request: Request, email: str, action: str, reason: str) -> None:
    """The audit trail records every sign-in attempt, failed ones too."""
    actor = AuditActor("operator", email[:200], email[:200])
    note(request.scope, action=action, actor=actor, details={"reason": reason} if reason else {})  # type: ignore[arg-type]


@post("/logout", status_code=303)
async def logout(request: Request) -> Response[Any]:
    await admin_state(request.app).sessions.end(current(request).id)
    response = Redirect(path="/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


def login_redirect(request: Request, _exc: Exception) -> Response[Any]:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/admin/login" if request.method != "GET" else f"/admin/login?next={quote(target)}"
    if request.headers.get("hx-request") == "true":
        return Response(content=b"", status_code=401, headers={"HX-Redirect": location})
    return Redirect(path=location, status_code=303)
