"""Cookies in both modes: Secure and `__Host-` named by default, bare for plain-HTTP development.

A `__Host-` cookie is kept by a browser only if it is Secure, has Path=/ and no Domain; the test
reads the Set-Cookie headers as a browser would and checks exactly that.
"""

from __future__ import annotations

import dataclasses
import re
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from vbranch_server.app import create_app
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.settings import Settings

from .test_security_headers import settled

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def set_cookies(response: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def make_client(aiohttp_client, settings: Settings, clock, secure: bool) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, secure_cookies=secure), clock=clock)
    # Cookies are sent by hand below, as a browser on HTTPS would: aiohttp's jar keeps
    # Secure cookies away from an http:// test server.
    return await aiohttp_client(app, cookie_jar=aiohttp.DummyCookieJar())


def assert_host_only(morsel, secure: bool) -> None:  # type: ignore[no-untyped-def]
    assert morsel["path"] == "/"
    assert morsel["domain"] == ""
    assert bool(morsel["secure"]) is secure
    assert morsel.key.startswith("__Host-") is secure


@pytest.mark.parametrize(
    ("secure", "session", "csrf"),
    [(True, "__Host-vb_session", "__Host-vb_login_csrf"), (False, "vb_session", "vb_login_csrf")],
)
async def test_login_form_and_session_cookies_in_both_modes(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, secure, session, csrf
) -> None:
    client = await make_client(aiohttp_client, settings, clock, secure)
    form = await client.get("/login")
    form_cookie = set_cookies(form)[csrf]
    assert_host_only(form_cookie, secure)
    assert form_cookie["httponly"] is True and form_cookie["samesite"] == "Strict"
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
    assert token and token.group(1) == form_cookie.value

    login = await client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": "agent.ar", "password": "x"},
        headers={"Cookie": f"{csrf}={form_cookie.value}"},
        allow_redirects=False,
    )
    assert login.status == 401  # the CSRF cookie was accepted under its name; the password not
    login = await client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "username": "agent.ar",
            "password": PASSWORDS["agent.ar"],
        },
        headers={"Cookie": f"{csrf}={form_cookie.value}"},
        allow_redirects=False,
    )
    assert login.status == 303
    cookies = set_cookies(login)
    assert_host_only(cookies[session], secure)
    assert cookies[session]["httponly"] is True and cookies[session]["samesite"] == "Strict"
    # The used-up CSRF cookie is deleted with the attributes a browser needs to accept it.
    assert cookies[csrf].value == "" and cookies[csrf]["max-age"] == "0"
    assert_host_only(cookies[csrf], secure)

    value = cookies[session].value
    me = await client.get("/api/me", headers={"Cookie": f"{session}={value}"})
    assert me.status == 200
    csrf_token = (await me.json())["csrf_token"]
    out = await client.post(
        "/api/logout", headers={"Cookie": f"{session}={value}", "X-CSRF-Token": csrf_token}
    )
    assert out.status == 200
    gone = set_cookies(out)[session]
    assert gone.value == "" and gone["max-age"] == "0"
    assert_host_only(gone, secure)
    await settled(client)


async def test_secure_mode_ignores_the_bare_cookie_name(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data
) -> None:
    # A cookie planted over plain HTTP or by a neighbouring subdomain can only have the bare
    # name: with secure cookies on, it does not count.
    client = await make_client(aiohttp_client, settings, clock, secure=True)
    login = await client.post(
        "/api/login", json={"username": "agent.ar", "password": PASSWORDS["agent.ar"]}
    )
    morsel = set_cookies(login)["__Host-vb_session"]
    assert_host_only(morsel, secure=True)
    bare = await client.get("/api/me", headers={"Cookie": f"vb_session={morsel.value}"})
    assert bare.status == 401
    good = await client.get("/api/me", headers={"Cookie": f"__Host-vb_session={morsel.value}"})
    assert good.status == 200
    await settled(client)


@pytest.mark.parametrize(("secure", "name"), [(True, "__Host-vb_lang"), (False, "vb_lang")])
async def test_language_cookie_in_both_modes(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, secure, name
) -> None:
    client = await make_client(aiohttp_client, settings, clock, secure)
    response = await client.get("/?lang=en")
    morsel = set_cookies(response)[name]
    assert morsel.value == "en"
    assert_host_only(morsel, secure)
    again = await client.get("/", headers={"Cookie": f"{name}=en", "Accept-Language": "ar"})
    assert '<html lang="en"' in await again.text()
    await settled(client)
