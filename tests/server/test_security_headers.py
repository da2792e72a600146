"""Protective headers on every response: pages, JSON, static files, Socket.IO, and the ones aiohttp
makes from a raised HTTPException (404, 405, 413, redirects, 403 pages) that a middleware missed.

A table of routes and what each must carry, in the style of Home Assistant's
tests/components/http/test_security_filter.py.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from vbranch_server.app import create_app
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.settings import Settings
from vbranch_server.web.security import (
    CONTENT_SECURITY_POLICY,
    HSTS,
    MEDIA_PERMISSIONS,
    NO_PERMISSIONS,
)

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
MEDIA, PRIVATE = "media", "private"
TOO_BIG = b"x" * (1024 * 1024 + 1)  # one byte over the app's client_max_size

#: (who is logged in, method, path, body, expected status, what else the answer must carry)
ROUTES: list[tuple[str | None, str, str, Any, int, set[str]]] = [
    # Customers' pages: only /visit may use the camera, microphone and screen.
    (None, "GET", "/", None, 200, set()),
    (None, "HEAD", "/", None, 200, set()),
    (None, "GET", "/visit", None, 200, {MEDIA}),
    (None, "GET", "/track", None, 200, set()),
    (None, "GET", "/healthz", None, 200, set()),
    (None, "GET", "/api/openapi.json", None, 200, set()),
    (None, "GET", "/source", None, 200, set()),
    # Static files, also for staff: the same for everyone, so they stay cacheable.
    (None, "GET", "/static/client/base.css", None, 200, set()),
    ("agent.ar", "GET", "/static/console/console.js", None, 200, set()),
    (None, "GET", "/static/client/missing.css", None, 404, set()),
    # Routing's own errors, raised before any handler.
    (None, "GET", "/no-such-page", None, 404, set()),
    (None, "GET", "/api/no-such-thing", None, 404, set()),
    (None, "DELETE", "/", None, 405, set()),
    (None, "PUT", "/api/visits", None, 405, set()),
    # A body too large, refused by aiohttp while reading it.
    (None, "POST", "/api/visits", TOO_BIG, 413, set()),
    # JSON APIs, including their errors.
    (None, "POST", "/api/visits", {"language": "en"}, 201, set()),
    (None, "POST", "/api/visits", {"language": "fr"}, 400, set()),
    (None, "POST", "/api/track", {"reference": "VB-2026-000001", "code": "nope"}, 404, {PRIVATE}),
    (None, "POST", "/api/login", {"username": "agent.ar", "password": "wrong"}, 401, {PRIVATE}),
    # Staff pages and APIs: never cached, whatever the answer.
    (None, "GET", "/login", None, 200, {PRIVATE}),
    (None, "GET", "/console", None, 303, {MEDIA, PRIVATE}),  # raised HTTPSeeOther to /login
    (None, "GET", "/api/tickets", None, 401, {PRIVATE}),
    ("agent.ar", "GET", "/login", None, 303, {PRIVATE}),  # already in: raised redirect home
    ("agent.ar", "GET", "/console", None, 200, {MEDIA, PRIVATE}),
    ("agent.ar", "GET", "/supervisor", None, 403, {PRIVATE}),  # raised HTTPForbidden page
    ("agent.ar", "GET", "/api/supervisor/sla-board", None, 403, {PRIVATE}),
    ("agent.ar", "GET", "/api/tickets", None, 200, {PRIVATE}),
    ("agent.ar", "GET", "/api/me", None, 200, {PRIVATE}),
    ("agent.ar", "GET", "/api/console/my-tickets", None, 200, {PRIVATE}),
    ("agent.ar", "GET", "/api/attachments/999999", None, 404, {PRIVATE}),
    ("agent.ar", "GET", "/", None, 200, {PRIVATE}),  # any page served to a staff session
    ("supervisor", "GET", "/supervisor", None, 200, {PRIVATE}),
    ("supervisor", "GET", "/api/supervisor/reports/agents.csv", None, 200, {PRIVATE}),
    # Socket.IO's own answers (its handler is not one of ours).
    (None, "GET", "/socket.io/?EIO=4&transport=polling", None, 200, set()),
    (None, "GET", "/socket.io/?EIO=x&transport=polling", None, 400, set()),
]


async def settled(client: TestClient) -> None:
    """Wait for the app's first queue sample to be written before the test ends.

    The call hub writes it to the database on its first tick, right at start-up; a test shorter
    than that would stop the app mid-write and aiosqlite's thread would answer a closed loop.
    The database check of /healthz queues behind that write (SQLite has one connection).
    """
    assert (await client.get("/healthz")).status == 200


async def _client(aiohttp_client, settings: Settings, clock, who: str | None) -> TestClient:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(create_app(settings, clock=clock))
    if who is not None:
        response = await client.post(
            "/api/login", json={"username": who, "password": PASSWORDS[who]}
        )
        assert response.status == 200, await response.text()
    return client


async def _send(client: TestClient, method: str, path: str, body: Any):  # type: ignore[no-untyped-def]
    kwargs: dict[str, Any] = {"allow_redirects": False}
    if isinstance(body, bytes):
        kwargs["data"] = io.BytesIO(body)
        kwargs["headers"] = {"Content-Type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    return await client.request(method, path, **kwargs)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("who", "method", "path", "body", "status", "extra"), ROUTES)
async def test_every_response_carries_the_security_headers(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, who, method, path, body, status, extra
) -> None:
    client = await _client(aiohttp_client, settings, clock, who)
    response = await _send(client, method, path, body)
    assert response.status == status, await response.text()
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    expected_permissions = MEDIA_PERMISSIONS if MEDIA in extra else NO_PERMISSIONS
    assert response.headers["Permissions-Policy"] == expected_permissions
    if PRIVATE in extra:
        assert response.headers["Cache-Control"] == "no-store"
    else:
        assert "no-store" not in response.headers.get("Cache-Control", "")
    # Plain-HTTP development (the tests' settings): no HSTS, which would stick to the host.
    assert "Strict-Transport-Security" not in response.headers
    await settled(client)


def test_the_policies_say_what_the_issue_asks() -> None:
    assert "connect-src 'self';" in CONTENT_SECURITY_POLICY
    assert "ws:" not in CONTENT_SECURITY_POLICY and "wss:" not in CONTENT_SECURITY_POLICY
    for feature in ("camera", "microphone", "display-capture"):
        assert f"{feature}=()" in NO_PERMISSIONS
        assert f"{feature}=(self)" in MEDIA_PERMISSIONS


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/no-such-page", 404),
        ("GET", "/console", 303),
        ("GET", "/static/client/base.css", 200),
        ("POST", "/api/visits", 415),
    ],
)
async def test_hsts_with_secure_cookies(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, method, path, status
) -> None:
    secure = dataclasses.replace(settings, secure_cookies=True)
    client = await _client(aiohttp_client, secure, clock, None)
    response = await client.request(method, path, allow_redirects=False)
    assert response.status == status
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert response.headers["X-Frame-Options"] == "DENY"
    await settled(client)
