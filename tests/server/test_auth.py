"""Staff authentication over HTTP: login (JSON and HTML form), sessions, CSRF, roles, throttling.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import func, select

from vbranch_server.auth import passwords
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.auth.staff import add_staff_user
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import StaffRole, StaffSession, StaffUser, Ticket
from vbranch_server.keys import CATALOGS, LOGIN_LIMITER
from vbranch_server.settings import Settings
from vbranch_server.web.auth_views import LOGIN_CSRF_COOKIE

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}

#: Every (method, path) reachable without a staff session. Adding a route to this list is a
#: deliberate decision; a new route marked @public by mistake makes the test below fail.
PUBLIC_ROUTES = {
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
    ("GET", "/metrics"),
    ("HEAD", "/metrics"),
    ("GET", "/login"),
    ("HEAD", "/login"),
    ("GET", "/visit"),
    ("HEAD", "/visit"),
    ("GET", "/track"),
    ("HEAD", "/track"),
    ("POST", "/login"),
    ("POST", "/api/login"),
    ("POST", "/api/track"),
    ("POST", "/api/visits"),
    ("POST", "/api/requests"),
    ("POST", "/api/echo"),
    # These two authenticate the customer by the visit token, not a staff session.
    ("POST", "/api/calls/{call_id}/files"),
    ("POST", "/api/calls/{call_id}/rating"),
    ("GET", "/api/openapi.json"),
    ("HEAD", "/api/openapi.json"),
    # The source code of the running server (AGPL-3.0 section 13).
    ("GET", "/source"),
    ("HEAD", "/source"),
}

#: Values for the variable parts of route paths.
PATH_SAMPLES = {"reference": "VB-2026-000001", "call_id": "c1", "attachment_id": "1"}


# --- fixtures and helpers ---------------------------------------------------------------------


async def log_in(client: TestClient, username: str, password: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/api/login", json={"username": username, "password": password or PASSWORDS[username]}
    )
    assert response.status == 200, await response.text()
    return await response.json()


def set_cookies(response: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


def assert_error(body: Any, code: str) -> None:
    """The one JSON error shape: {"error": {"code", "message"[, "details"]}}."""
    assert set(body) == {"error"}, body
    assert set(body["error"]) - {"details"} == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


@asynccontextmanager
async def from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser on another loopback address (127.0.0.0/8), so `request.remote` differs."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def try_login(
    session: aiohttp.ClientSession, client: TestClient, username: str, password: str
) -> tuple[int, dict[str, Any], str | None]:
    async with session.post(
        client.make_url("/api/login"), json={"username": username, "password": password}
    ) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def count(settings: Settings, model: type) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def login_form(client: TestClient, path: str = "/login") -> str:
    """GET the form; return its hidden CSRF token (after checking it matches the cookie)."""
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    match = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', html)
    assert match, html
    cookie = set_cookies(response)[LOGIN_CSRF_COOKIE]
    assert cookie.value == match.group(1)
    return match.group(1)


def assert_same_site(location: str, expected: str | None) -> None:
    """`expected` exactly, or (None) any path on this site as a browser would read it."""
    if expected is not None:
        assert location == expected
        return
    as_browser_reads_it = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    assert as_browser_reads_it.startswith("/"), location
    assert not as_browser_reads_it.startswith("//"), location
    assert not urlsplit(as_browser_reads_it).netloc, location


def html_tag(html: str) -> str:
    match = re.search(r"<html[^>]*>", html)
    assert match, html[:200]
    return match.group(0)


def title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match, html[:400]
    return match.group(1)


# --- JSON login -------------------------------------------------------------------------------


async def test_json_login_sets_an_httponly_strict_session_cookie(
    client: TestClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/login", json={"username": "agent.ar", "password": "demo-agent-pass"}
    )
    assert response.status == 200
    body = await response.json()
    assert body["user"]["username"] == "agent.ar"
    assert body["user"]["role"] == "agent"
    assert "password_hash" not in body["user"]
    assert len(body["csrf_token"]) >= 32

    morsel = set_cookies(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == settings.session_ttl_seconds

    # The database keeps only the token's hash, never the token itself.
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            rows = (await db.scalars(select(StaffSession))).all()
    finally:
        await engine.dispose()
    assert [row.token_hash for row in rows] == [hashlib.sha256(morsel.value.encode()).hexdigest()]
    assert rows[0].csrf_token == body["csrf_token"]


async def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, settings: Settings
) -> None:
    wrong = await client.post("/api/login", json={"username": "agent.ar", "password": "not-it"})
    assert wrong.status == 401
    wrong_body = await wrong.json()
    assert_error(wrong_body, "bad_credentials")
    assert SESSION_COOKIE not in set_cookies(wrong)

    unknown = await client.post("/api/login", json={"username": "nobody", "password": "not-it"})
    assert unknown.status == 401
    # No way to tell an unknown user from a wrong password.
    assert await unknown.json() == wrong_body
    assert await count(settings, StaffSession) == 0
    assert (await client.get("/api/me")).status == 401


async def test_login_body_is_validated(client: TestClient) -> None:
    missing = await client.post("/api/login", json={"username": "agent.ar"})
    assert missing.status == 400
    body = await missing.json()
    assert_error(body, "invalid_request")
    assert [d["field"] for d in body["error"]["details"]] == ["password"]

    form = await client.post("/api/login", data={"username": "agent.ar", "password": "x"})
    assert form.status == 415
    assert_error(await form.json(), "unsupported_media_type")


async def test_sixth_failed_login_for_a_user_from_one_address_is_refused_there_only(
    client: TestClient,
) -> None:
    async with from_address("127.0.0.2") as first, from_address("127.0.0.3") as second:
        for _ in range(5):
            status, body, _ = await try_login(first, client, "agent.ar", "wrong-password")
            assert status == 401
        status, body, retry_after = await try_login(first, client, "agent.ar", "wrong-password")
        assert status == 429
        assert_error(body, "too_many_attempts")
        assert retry_after is not None and 1 <= int(retry_after) <= 301
        # Even the right password is refused from that address...
        status, body, retry_after = await try_login(first, client, "agent.ar", "demo-agent-pass")
        assert (status, body["error"]["code"]) == (429, "too_many_attempts")
        # ...while the user logs in from another: a stranger cannot lock the account.
        status, body, _ = await try_login(second, client, "agent.ar", "demo-agent-pass")
        assert status == 200
        # Another user from the first address may log in too.
        status, body, _ = await try_login(first, client, "agent.en", "demo-agent-pass")
        assert status == 200

    # The window is five minutes: once it has passed, the first address may try again.
    limiter = client.server.app[LOGIN_LIMITER]  # one process, no Redis: counted here
    limiter.clock = lambda: time.monotonic() + 300
    async with from_address("127.0.0.2") as first:
        status, _, _ = await try_login(first, client, "agent.ar", "demo-agent-pass")
        assert status == 200


async def test_an_address_failing_for_many_usernames_is_refused_for_any_user(
    client: TestClient,
) -> None:
    async with from_address("127.0.0.2") as first, from_address("127.0.0.3") as second:
        # Thirty different names, unknown ones too: each failure counts against the address.
        names = ["admin", "supervisor", "agent.ar", "agent.sign"] + [
            f"nobody{n}" for n in range(26)
        ]
        for username in names:
            status, _, _ = await try_login(first, client, username, "wrong-password")
            assert status == 401
        status, body, retry_after = await try_login(first, client, "agent.en", "demo-agent-pass")
        assert status == 429
        assert_error(body, "too_many_attempts")
        assert retry_after is not None and 1 <= int(retry_after) <= 301

        status, _, _ = await try_login(second, client, "agent.en", "demo-agent-pass")
        assert status == 200


async def test_passwords_are_stored_as_argon2id(
    client: TestClient, settings: Settings, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher())  # the product's own cost
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db, db.begin():
            await add_staff_user(
                db,
                username="new.agent",
                password="a-fresh-password-123",
                role=StaffRole.AGENT,
                display_name="New agent",
                languages=["en"],
                categories=["pensions"],
                sign_language=False,
                now=clock(),
            )
        async with session_factory(engine)() as db:
            hashes = dict(
                (await db.execute(select(StaffUser.username, StaffUser.password_hash))).all()
            )
    finally:
        await engine.dispose()

    assert set(hashes) == {*PASSWORDS, "new.agent"}
    stored = hashes["new.agent"]
    assert stored.startswith("$argon2id$")
    assert "a-fresh-password-123" not in stored
    # The product's own cost, not the cheap one these tests use for the demo accounts.
    assert PasswordHasher().check_needs_rehash(stored) is False
    body = await log_in(client, "new.agent", "a-fresh-password-123")
    assert body["user"]["username"] == "new.agent"
    wrong = await client.post(
        "/api/login", json={"username": "new.agent", "password": "a-fresh-password-124"}
    )
    assert wrong.status == 401


# --- sessions ---------------------------------------------------------------------------------


async def test_me_with_and_without_a_session(client: TestClient) -> None:
    anonymous = await client.get("/api/me")
    assert anonymous.status == 401
    assert_error(await anonymous.json(), "login_required")

    login = await log_in(client, "supervisor")
    me = await client.get("/api/me")
    assert me.status == 200
    body = await me.json()
    assert body["user"]["username"] == "supervisor"
    assert body["user"]["role"] == "supervisor"
    assert body["csrf_token"] == login["csrf_token"]


async def test_logout_deletes_the_session(client: TestClient, settings: Settings) -> None:
    login = await client.post(
        "/api/login", json={"username": "agent.ar", "password": "demo-agent-pass"}
    )
    token = set_cookies(login)[SESSION_COOKIE].value
    csrf = (await login.json())["csrf_token"]
    assert await count(settings, StaffSession) == 1

    response = await client.post("/api/logout", headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert set_cookies(response)[SESSION_COOKIE].value == ""  # the browser drops it
    assert await count(settings, StaffSession) == 0

    # Replaying the old cookie gets nowhere.
    client.session.cookie_jar.clear()
    replay = await client.get("/api/me", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
    assert replay.status == 401
    assert_error(await replay.json(), "login_required")


async def test_form_logout_deletes_the_session(client: TestClient, settings: Settings) -> None:
    csrf = (await log_in(client, "agent.ar"))["csrf_token"]
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    assert await count(settings, StaffSession) == 0
    assert (await client.get("/api/me")).status == 401


async def test_session_expires_after_its_ttl(
    client: TestClient, settings: Settings, clock: Any
) -> None:
    await log_in(client, "agent.ar")
    clock.advance(seconds=settings.session_ttl_seconds - 1)
    assert (await client.get("/api/me")).status == 200
    clock.advance(seconds=1)
    expired = await client.get("/api/me")
    assert expired.status == 401
    assert_error(await expired.json(), "login_required")
    page = await client.get("/console", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/login?next=/console"


# --- CSRF -------------------------------------------------------------------------------------


async def test_state_changing_requests_need_the_sessions_csrf_token(
    client: TestClient, settings: Settings
) -> None:
    agent_csrf = (await log_in(client, "agent.ar"))["csrf_token"]
    supervisor_csrf = (await log_in(client, "supervisor"))["csrf_token"]
    ticket = {"category": "pensions", "subject": "Pension", "customer": {"display_name": "Ali"}}

    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": agent_csrf}):
        refused = await client.post("/api/tickets", json=ticket, headers=headers)
        assert refused.status == 403, headers
        assert_error(await refused.json(), "csrf_failed")
    assert await count(settings, Ticket) == 0

    refused = await client.post("/api/logout")
    assert refused.status == 403
    assert_error(await refused.json(), "csrf_failed")
    assert (await client.get("/api/me")).status == 200  # still logged in

    created = await client.post(
        "/api/tickets", json=ticket, headers={"X-CSRF-Token": supervisor_csrf}
    )
    assert created.status == 201
    assert await count(settings, Ticket) == 1


# --- the HTML login form ----------------------------------------------------------------------


async def test_login_form_sets_a_csrf_cookie_matching_its_hidden_field(client: TestClient) -> None:
    response = await client.get("/login")
    assert response.status == 200
    morsel = set_cookies(response)[LOGIN_CSRF_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"  # a __Host- cookie must have Path=/ (secure mode)
    html = await response.text()
    assert f'<input type="hidden" name="csrf_token" value="{morsel.value}">' in html
    # A new form, a new token.
    assert await login_form(client) != morsel.value


@pytest.mark.parametrize(
    ("username", "home"), [("agent.ar", "/console"), ("supervisor", "/supervisor")]
)
async def test_login_form_logs_in_and_redirects_home(
    client: TestClient, username: str, home: str
) -> None:
    csrf = await login_form(client)
    response = await client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORDS[username]},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == home
    cookies = set_cookies(response)
    assert cookies[SESSION_COOKIE]["httponly"] is True
    assert cookies[SESSION_COOKIE]["samesite"] == "Strict"
    assert cookies[LOGIN_CSRF_COOKIE].value == ""  # used up
    assert (await client.get(home)).status == 200
    assert (await (await client.get("/api/me")).json())["user"]["username"] == username


async def test_login_form_without_a_valid_token_is_refused(
    client: TestClient, settings: Settings
) -> None:
    good = {"username": "agent.ar", "password": "demo-agent-pass"}
    csrf = await login_form(client)
    for data in (good, {**good, "csrf_token": ""}, {**good, "csrf_token": csrf + "x"}):
        response = await client.post("/login", data=data, allow_redirects=False)
        assert response.status == 403
        assert SESSION_COOKIE not in set_cookies(response)
        # Arabic, the default language: "the form expired, please try again".
        assert "انتهت صلاحية النموذج" in await response.text()

    # The token without its cookie (a cross-site page cannot read or set it) is refused too.
    client.session.cookie_jar.clear()
    response = await client.post("/login", data={**good, "csrf_token": csrf}, allow_redirects=False)
    assert response.status == 403
    assert SESSION_COOKIE not in set_cookies(response)

    assert await count(settings, StaffSession) == 0
    assert (await client.get("/api/me")).status == 401


async def test_login_form_with_a_wrong_password_shows_the_form_again(
    client: TestClient, settings: Settings
) -> None:
    csrf = await login_form(client, "/login?lang=en")
    response = await client.post(
        "/login",
        data={"csrf_token": csrf, "username": "agent.ar", "password": "wrong-password"},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "Wrong username or password." in await response.text()
    assert SESSION_COOKIE not in set_cookies(response)
    assert await count(settings, StaffSession) == 0


async def test_login_redirect_only_follows_same_site_paths(client: TestClient) -> None:
    cases = {
        "/supervisor?tab=queue": "/supervisor?tab=queue",
        "/console": "/console",
        "//evil.example": "/console",
        "//evil.example/console": "/console",
        "http://evil.example": "/console",
        "https://evil.example/console": "/console",
        # Browsers read a backslash as a slash: it must not come out as "//evil.example".
        "/\\evil.example": "/console",
        "/\\evil.example/x": "/console",
        "/\t/evil.example": "/console",
        "evil.example": "/console",
        "": "/console",
    }
    for target, expected in cases.items():
        client.session.cookie_jar.clear()
        csrf = await login_form(client)
        response = await client.post(
            "/login",
            data={
                "csrf_token": csrf,
                "username": "agent.ar",
                "password": "demo-agent-pass",
                "next": target,
            },
            allow_redirects=False,
        )
        assert response.status == 303, target
        assert_same_site(response.headers["Location"], expected)

    # A logged-in visitor of /login is sent on by the same rule.
    for target, expected in cases.items():
        response = await client.get("/login", params={"next": target}, allow_redirects=False)
        assert response.status == 303, target
        assert_same_site(response.headers["Location"], expected)


async def test_a_deep_link_survives_the_detour_through_login(client: TestClient) -> None:
    target = "/supervisor?tab=queue&sort=due"
    anonymous = await client.get(target, allow_redirects=False)
    assert anonymous.status == 303
    login_url = anonymous.headers["Location"]
    assert login_url.startswith("/login?next=")

    response = await client.get(login_url)
    html = await response.text()
    match = re.search(r'<input type="hidden" name="next" value="([^"]*)">', html)
    assert match, html
    next_field = match.group(1).replace("&amp;", "&")
    assert next_field == target  # every query parameter kept

    csrf = await login_form(client)
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf,
            "username": "supervisor",
            "password": PASSWORDS["supervisor"],
            "next": next_field,
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == target


async def test_login_form_carries_next_from_the_query(client: TestClient) -> None:
    response = await client.get("/login", params={"next": "/supervisor"})
    html = await response.text()
    assert '<input type="hidden" name="next" value="/supervisor">' in html
    # Autoescaped: a crafted `next` cannot break out of the attribute.
    response = await client.get("/login", params={"next": '"><script>x</script>'})
    assert "<script>x</script>" not in await response.text()


# --- roles and closed-by-default routes -------------------------------------------------------


async def test_pages_by_role(client: TestClient) -> None:
    anonymous = await client.get("/console", allow_redirects=False)
    assert anonymous.status == 303
    assert anonymous.headers["Location"] == "/login?next=/console"

    await log_in(client, "agent.ar")
    assert (await client.get("/console")).status == 200
    forbidden = await client.get("/supervisor", allow_redirects=False)
    assert forbidden.status == 403

    await log_in(client, "supervisor")
    assert (await client.get("/supervisor")).status == 200
    assert (await client.get("/console")).status == 200


def _routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    found = []
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource):
            continue
        if route.resource is not None and route.resource.canonical.startswith("/socket.io"):
            continue  # Socket.IO authenticates each namespace itself (tests/signaling)
        assert route.resource is not None
        found.append((route.method, route.resource.canonical, route))
    return found


def _sample_path(canonical: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PATH_SAMPLES[m.group(1)], canonical)


async def test_every_route_is_closed_unless_on_the_public_allow_list(client: TestClient) -> None:
    routes = _routes(client.server.app)
    public = {
        (method, path)
        for method, path, route in routes
        if getattr(route.handler, "vbranch_public", False)
    }
    assert public == PUBLIC_ROUTES

    protected = [(m, p) for m, p, _ in routes if (m, p) not in PUBLIC_ROUTES]
    assert ("POST", "/api/tickets") in protected  # the walk really sees the API
    assert ("GET", "/console") in protected
    for method, canonical in protected:
        # Every protected route names the roles allowed in; none is open to "any session".
        handler = next(r.handler for m, p, r in routes if (m, p) == (method, canonical))
        assert getattr(handler, "vbranch_roles", frozenset()), (method, canonical)

        path = _sample_path(canonical)
        response = await client.request(method, path, json={}, allow_redirects=False)
        if path.startswith("/api/") or method not in {"GET", "HEAD"}:
            assert response.status == 401, (method, path)
            if method != "HEAD":
                assert_error(await response.json(), "login_required")
        else:
            assert response.status == 303, (method, path)
            assert response.headers["Location"] == f"/login?next={path}", (method, path)

    # And the public ones really are reachable without a session.
    for method, path in PUBLIC_ROUTES:
        if method == "GET":
            response = await client.get(path, allow_redirects=False)
            assert response.status == 200, path


# --- languages --------------------------------------------------------------------------------


async def test_login_page_in_arabic_and_english(client: TestClient) -> None:
    catalogs = client.server.app[CATALOGS]

    arabic = await (await client.get("/login?lang=ar")).text()
    assert html_tag(arabic) == '<html lang="ar" dir="rtl">'
    assert title(arabic).startswith("دخول الموظفين")
    assert catalogs.gettext("ar", "login.title") == "دخول الموظفين"

    response = await client.get("/login?lang=en")
    assert set_cookies(response)["vb_lang"].value == "en"
    english = await response.text()
    assert html_tag(english) == '<html lang="en" dir="ltr">'
    assert title(english).startswith("Staff login")

    # Remembered by cookie, until another explicit choice.
    remembered = await (await client.get("/login")).text()
    assert html_tag(remembered) == '<html lang="en" dir="ltr">'
    await client.get("/login?lang=ar")
    remembered = await (await client.get("/login")).text()
    assert html_tag(remembered) == '<html lang="ar" dir="rtl">'
    assert client.session.cookie_jar.filter_cookies(client.make_url("/"))["vb_lang"].value == "ar"


async def test_language_without_a_choice_follows_the_browser_then_arabic(
    client: TestClient,
) -> None:
    english = await (
        await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    ).text()
    assert html_tag(english) == '<html lang="en" dir="ltr">'
    default = await (await client.get("/login", headers={"Accept-Language": "fr"})).text()
    assert html_tag(default) == '<html lang="ar" dir="rtl">'
    # An unknown ?lang= is ignored, not remembered.
    response = await client.get("/login?lang=xx", headers={"Accept-Language": "en"})
    assert "vb_lang" not in set_cookies(response)
    assert html_tag(await response.text()) == '<html lang="en" dir="ltr">'
