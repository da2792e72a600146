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
from vbranch_server.keys import CLOCK, DB
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
    token = request.cookies.get(SESSION_COOKIE)
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


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'",
    )
    return response
