"""Staff login and logout: the HTML form and the JSON API share one path through `_login`."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from aiohttp import web

from vbranch_server.auth.sessions import SESSION_COOKIE, authenticate, close_session, open_session
from vbranch_server.crm.rules import ALLOWED_TRANSITIONS
from vbranch_server.db.models import StaffRole, StaffSession, StaffUser
from vbranch_server.i18n import pick_language
from vbranch_server.keys import CATALOGS, CLOCK, DB, LOGIN_LIMITER, METRICS, SETTINGS
from vbranch_server.realtime.wiring import HUB, close_staff_sockets
from vbranch_server.web.client_address import client_ip
from vbranch_server.web.cookies import delete_cookie, read_cookie, set_cookie
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.pages import render, services_with_hours
from vbranch_server.web.schemas import LoginRequest, LoginResponse, StaffOut
from vbranch_server.web.security import (
    ANY_STAFF,
    CSRF_FIELD,
    current_staff,
    public,
    requires,
    staff_user,
)
from vbranch_server.web.supervisor_api import supervisor_page_context

routes = web.RouteTableDef()

#: Wrap-up outcome codes the console offers (the protocol's `outcome`: a short lowercase name).
CONSOLE_OUTCOMES = ("resolved", "follow_up", "documents_missing", "referred", "no_action")

#: Double-submit cookie protecting the login form itself, before any session exists (its base
#: name: see web/cookies.py for the `__Host-` prefix).
LOGIN_CSRF_COOKIE = "vb_login_csrf"


class LoginRefused(Exception):
    def __init__(self, code: str, retry_after: float = 0) -> None:
        super().__init__(code)
        self.code, self.retry_after = code, retry_after


def staff_out(user: StaffUser) -> StaffOut:
    return StaffOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        languages=user.languages,
        categories=user.categories,
        sign_language=user.sign_language,
    )


def home_of(user: StaffUser) -> str:
    return "/supervisor" if user.role in {StaffRole.SUPERVISOR, StaffRole.ADMIN} else "/console"


async def _login(request: web.Request, username: str, password: str) -> tuple[str, StaffSession]:
    # Counted before the password is checked, so simultaneous guesses cannot all pass a check
    # made before any of them failed; the rules (LOGIN_RULES) keep a stranger from locking the
    # real user out.
    address, name = client_ip(request), username.lower()
    attempt = await request.app[LOGIN_LIMITER].reserve(
        {"pair": f"{address}|{name}", "username": name, "address": address}
    )
    if attempt.refused:
        request.app[METRICS].logins.labels("throttled").inc()
        raise LoginRefused("too_many_attempts", attempt.retry_after)
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        user = await authenticate(db, username, password)
        if user is None:
            request.app[METRICS].logins.labels("failed").inc()
            raise LoginRefused("bad_credentials")  # the attempt stays counted: a failure
        await attempt.release(clear=["pair"])
        token, row = await open_session(db, user, now, request.app[SETTINGS].session_ttl_seconds)
        await db.commit()
    request.app[METRICS].logins.labels("ok").inc()
    return token, row


def _set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    max_age = request.app[SETTINGS].session_ttl_seconds
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)


@routes.post("/api/login")
@public
async def api_login(request: web.Request) -> web.Response:
    # JSON only: a cross-site form cannot send application/json without a CORS preflight,
    # which this server never grants, so the JSON login needs no CSRF token of its own.
    body = await read_json_model(request, LoginRequest)
    try:
        token, row = await _login(request, body.username, body.password)
    except LoginRefused as exc:
        if exc.code == "too_many_attempts":
            raise ApiError(
                429,
                exc.code,
                "too many failed logins; try again later",
                headers={"Retry-After": str(int(exc.retry_after) + 1)},
            ) from None
        raise ApiError(401, exc.code, "wrong username or password") from None
    response = web.json_response(
        text=LoginResponse(user=staff_out(row.user), csrf_token=row.csrf_token).model_dump_json()
    )
    _set_session_cookie(request, response, token)
    return response


@routes.post("/api/logout")
@requires(*ANY_STAFF)
async def api_logout(request: web.Request) -> web.Response:
    return await _logout(request, web.json_response({"ok": True}))


async def _logout(request: web.Request, response: web.Response) -> web.Response:
    token = read_cookie(request, SESSION_COOKIE) or ""
    async with request.app[DB]() as db, db.begin():
        await close_session(db, token)
    # A socket opened with this session must not outlive it: the console and dashboard go too.
    await close_staff_sockets(request.app, token)
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@routes.get("/api/me")
@requires(*ANY_STAFF)
async def api_me(request: web.Request) -> web.Response:
    staff = current_staff(request)
    assert staff is not None
    body = LoginResponse(user=staff_out(staff.user), csrf_token=staff.csrf_token)
    return web.json_response(text=body.model_dump_json())


def _safe_next(target: str | None, fallback: str) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    # Browsers read "/\\host" as "//host"; control characters have no place in a path either.
    if "\\" in target or any(ord(c) < 32 for c in target):
        return fallback
    parts = urlsplit(target)
    return fallback if parts.scheme or parts.netloc else target


@routes.get("/login")
@public
async def login_page(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    if staff is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next"), home_of(staff.user)))
    return _login_form(request, error=None, status=200)


def _login_form(request: web.Request, error: str | None, status: int) -> web.Response:
    csrf = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        csrf_token=csrf,
        error=error,
        next=request.query.get("next", ""),
    )
    # Path=/ (not /login): a __Host- cookie must have it. It is HttpOnly and SameSite=Strict.
    set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf)
    return response


@routes.post("/login")
@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sent = str(form.get(CSRF_FIELD, ""))
    expected = read_cookie(request, LOGIN_CSRF_COOKIE) or ""
    if not expected or not secrets.compare_digest(sent, expected):
        return _login_form(request, error="login.error.expired", status=403)
    try:
        token, row = await _login(
            request, str(form.get("username", "")).strip(), str(form.get("password", ""))
        )
    except LoginRefused as exc:
        key = "login.error.throttled" if exc.code == "too_many_attempts" else "login.error.bad"
        return _login_form(request, error=key, status=429 if exc.retry_after else 401)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "")), home_of(row.user)))
    _set_session_cookie(request, response, token)
    delete_cookie(request, response, LOGIN_CSRF_COOKIE)
    raise response


@routes.post("/logout")
@requires(*ANY_STAFF)
async def logout_submit(request: web.Request) -> web.Response:
    response = await _logout(request, web.Response(status=303, headers={"Location": "/login"}))
    return response


@routes.get("/console")
@requires(StaffRole.AGENT, StaffRole.SUPERVISOR, StaffRole.ADMIN)
async def console_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    assert staff is not None
    lang = pick_language(request)
    messages = request.app[CATALOGS].messages[lang]
    services = await services_with_hours(request)
    # Only the texts the console shows travel to the browser, in the page's language.
    wanted = ("console.", "language.", "error.")
    return render(
        request,
        "console.html",
        user=staff.user,
        services=services,
        outcomes=CONSOLE_OUTCOMES,
        config={
            "lang": lang,
            "messages": {k: v for k, v in messages.items() if k.startswith(wanted)},
            "services": {service["code"]: service for service in services},
            "wrap_up_seconds": request.app[HUB].config.wrap_up_seconds,
            "csrf_token": staff.csrf_token,
            # The status choices offered are the ones the tickets API will accept.
            "transitions": {
                status.value: sorted(target.value for target in targets)
                for status, targets in ALLOWED_TRANSITIONS.items()
            },
        },
    )


@routes.get("/supervisor")
@requires(StaffRole.SUPERVISOR, StaffRole.ADMIN)
async def supervisor_page(request: web.Request) -> web.Response:
    context = await supervisor_page_context(request)
    return render(request, "supervisor.html", user=staff_user(request), **context)
