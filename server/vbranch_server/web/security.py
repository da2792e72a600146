"""Who may call what: staff sessions, roles on every route, CSRF, and protective headers.

Routes are closed by default: a handler is reachable without a staff session only if marked
`@public`, and otherwise only for the roles named by `@requires`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from vbranch_server.auth.sessions import SESSION_COOKIE, find_session
from vbranch_server.db.models import StaffRole, StaffSession, StaffUser
from vbranch_server.keys import CLOCK, DB, SETTINGS
from vbranch_server.web.cookies import read_cookie
from vbranch_server.web.errors import error_response

H = TypeVar("H", bound=Callable[..., Any])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
STAFF = web.RequestKey("staff", StaffSession)


def public(handler: H) -> H:
    handler.vbranch_public = True  # type: ignore[attr-defined]
    return handler


def requires(*roles: StaffRole) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        handler.vbranch_roles = frozenset(roles)  # type: ignore[attr-defined]
        return handler

    return mark


ANY_STAFF = (StaffRole.AGENT, StaffRole.SUPERVISOR, StaffRole.ADMIN)


@dataclass(frozen=True)
class Access:
    public: bool
    roles: frozenset[StaffRole]


#: Socket.IO authenticates each namespace itself when a connection opens (see vbranch_signaling).
SELF_AUTHENTICATING_PREFIXES = ("/socket.io/",)


def access_of(request: web.Request) -> Access:
    route = request.match_info.route
    if (
        isinstance(route.resource, web.StaticResource)
        or request.match_info.http_exception
        or request.path.startswith(SELF_AUTHENTICATING_PREFIXES)
    ):
        return Access(public=True, roles=frozenset())
    handler = route.handler
    return Access(
        public=getattr(handler, "vbranch_public", False),
        roles=getattr(handler, "vbranch_roles", frozenset()),
    )


def current_staff(request: web.Request) -> StaffSession | None:
    return request.get(STAFF)


def staff_user(request: web.Request) -> StaffUser:
    staff = current_staff(request)
    assert staff is not None, "route is not protected by @requires"
    return staff.user


def _deny(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    if request.path.startswith("/api/") or request.method not in SAFE_METHODS:
        return error_response(status, code, message)
    if status == 401:
        # Quoted, so a deep link keeps all its query parameters through the login.
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='/')}")
    raise web.HTTPForbidden(text=message)


async def _csrf_token_sent(request: web.Request) -> str:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        sent = str((await request.post()).get(CSRF_FIELD, ""))
    return sent


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = read_cookie(request, SESSION_COOKIE)
    if token:
        async with request.app[DB]() as db:
            staff = await find_session(db, token, request.app[CLOCK]())
        if staff is not None:
            request[STAFF] = staff

    access = access_of(request)
    if access.public:
        return await handler(request)
    staff = current_staff(request)
    if staff is None:
        return _deny(request, 401, "login_required", "log in as a staff member first")
    if staff.user.role not in access.roles:
        return _deny(request, 403, "forbidden", "your role may not do this")
    if request.method not in SAFE_METHODS:
        if not hmac.compare_digest(await _csrf_token_sent(request), staff.csrf_token):
            return error_response(403, "csrf_failed", "missing or wrong CSRF token")
    return await handler(request)


#: Pages that film the customer or the agent and share their screen (getUserMedia and
#: getDisplayMedia in client_web/static/visit.js and agent_console/static/console-call.js).
MEDIA_PAGES = frozenset({"/visit", "/console"})
_NO_FEATURES = "accelerometer=(), geolocation=(), gyroscope=(), magnetometer=(), payment=(), usb=()"
MEDIA_PERMISSIONS = f"camera=(self), microphone=(self), display-capture=(self), {_NO_FEATURES}"
NO_PERMISSIONS = f"camera=(), microphone=(), display-capture=(), {_NO_FEATURES}"
#: 'self' covers the page's own ws:/wss: origin too (CSP Level 3, which browsers implement):
#: Socket.IO connects to where the page came from and nowhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
#: What staff see (tickets, customers' documents, the dashboard) must not stay in a shared
#: computer's cache or a proxy's; /api/track shows a customer's own ticket.
STAFF_PATHS = (
    "/console",
    "/supervisor",
    "/login",
    "/logout",
    "/api/login",
    "/api/logout",
    "/api/me",
    "/api/tickets",
    "/api/console",
    "/api/supervisor",
    "/api/attachments",
    "/api/track",
)


def _is_private(request: web.Request) -> bool:
    path = request.path
    if path.startswith("/static/"):  # the same scripts and styles for everyone: cacheable
        return False
    staff_path = any(path == p or path.startswith(p + "/") for p in STAFF_PATHS)
    return staff_path or current_staff(request) is not None


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Run as every response is about to be sent (aiohttp's on_response_prepare): pages, JSON,
    static files, raised HTTPExceptions (404, 405, 413, redirects), error pages and Socket.IO's
    own answers alike. A middleware would miss what is raised past it and routing's own errors.
    """
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault(
        "Permissions-Policy",
        MEDIA_PERMISSIONS if request.path in MEDIA_PAGES else NO_PERMISSIONS,
    )
    if request.app[SETTINGS].secure_cookies:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if _is_private(request):
        headers["Cache-Control"] = "no-store"


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
