"""Every limit holds under a burst of simultaneous requests, in this process and in Redis alike.

Each test fires its burst with asyncio.gather against the real application and counts what was
evaluated (the login metrics, the look-ups answered 404, the tickets and visits made), never how
long anything took. Every test runs with the in-process counts and with the real Redis, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from vbranch_server.app import create_app
from vbranch_server.auth.ratelimit import LOGIN_RULES
from vbranch_server.keys import LOGIN_LIMITER, METRICS
from vbranch_server.settings import Settings

REQUEST = {"category": "medical", "language": "en", "message": "Is my treatment covered?"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limits_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The limits counted in this process, or in the real Redis under a prefix of their own."""
    if request.param == "memory":
        return settings
    prefix = f"vbt-burst-{uuid.uuid4().hex[:8]}:"
    return replace(settings, redis_url=request.getfixturevalue("redis_url"), redis_prefix=prefix)


@pytest.fixture
async def make_client(  # type: ignore[no-untyped-def]
    aiohttp_client, limits_settings: Settings, clock, demo_data
) -> AsyncIterator[Any]:
    async def make(**changes: Any) -> TestClient:
        return await aiohttp_client(create_app(replace(limits_settings, **changes), clock=clock))  # type: ignore[no-any-return]

    yield make
    if limits_settings.redis_url:
        redis = Redis.from_url(limits_settings.redis_url)
        keys = [key async for key in redis.scan_iter(match=f"{limits_settings.redis_prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def from_addresses(stack: AsyncExitStack, count: int) -> list[aiohttp.ClientSession]:
    """Browsers on as many loopback addresses (127.0.0.0/8), so `request.remote` differs."""
    return [
        await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(f"127.0.1.{n + 1}", 0))
            )
        )
        for n in range(count)
    ]


async def post(session: aiohttp.ClientSession, client: TestClient, path: str, body: Any) -> int:
    async with session.post(client.make_url(path), json=body) as response:
        await response.read()
        return response.status


def logins(client: TestClient, outcome: str) -> float:
    """Logins evaluated ("failed", "ok") or refused unevaluated ("throttled"), from /metrics."""
    registry = client.server.app[METRICS].registry
    return registry.get_sample_value("vbranch_logins_total", {"outcome": outcome}) or 0


async def test_forty_simultaneous_wrong_passwords_get_five_evaluated(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    body = {"username": "agent.ar", "password": "wrong-password"}
    answers = await asyncio.gather(*(client.post("/api/login", json=body) for _ in range(40)))
    assert Counter(a.status for a in answers) == {401: 5, 429: 35}
    assert (logins(client, "failed"), logins(client, "throttled")) == (5, 35)


async def test_wrong_passwords_from_forty_addresses_get_ten_evaluated(make_client) -> None:  # type: ignore[no-untyped-def]
    """Past ten failures a username gets delays, whatever the address: here the first delay is
    stretched to a minute, so that a slow machine cannot open the next slot mid-burst."""
    client = await make_client()
    client.server.app[LOGIN_LIMITER].rules["username"] = replace(
        LOGIN_RULES["username"], backoff=60
    )
    body = {"username": "agent.ar", "password": "wrong-password"}
    async with AsyncExitStack() as stack:
        browsers = await from_addresses(stack, 40)
        statuses = await asyncio.gather(*(post(b, client, "/api/login", body) for b in browsers))
    assert Counter(statuses) == {401: 10, 429: 30}
    assert logins(client, "failed") == 10


async def test_one_address_trying_forty_usernames_at_once_gets_thirty_evaluated(
    make_client,
) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    bodies = [{"username": f"nobody{n}", "password": "wrong-password"} for n in range(40)]
    answers = await asyncio.gather(*(client.post("/api/login", json=b) for b in bodies))
    assert Counter(a.status for a in answers) == {401: 30, 429: 10}
    assert logins(client, "failed") == 30


async def test_thirty_simultaneous_requests_make_five_tickets(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    answers = await asyncio.gather(*(client.post("/api/requests", json=REQUEST) for _ in range(30)))
    assert Counter(a.status for a in answers) == {201: 5, 429: 25}
    metrics = client.server.app[METRICS].registry
    made = metrics.get_sample_value("vbranch_tickets_created_total", {"channel": "web_request"})
    assert made == 5


async def test_two_hundred_simultaneous_code_guesses_get_ten_looked_up(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    guesses = [{"reference": "VB-2026-000001", "code": f"ABCDEF{n:04d}"} for n in range(200)]
    answers = await asyncio.gather(*(client.post("/api/track", json=g) for g in guesses))
    # A guess looked up and wrong is a 404; one refused before the look-up is a 429.
    assert Counter(a.status for a in answers) == {404: 10, 429: 190}


async def test_a_burst_of_visits_gets_only_the_minutes_allowance(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(visits_per_minute=7)
    body = {"language": "en"}
    answers = await asyncio.gather(*(client.post("/api/visits", json=body) for _ in range(40)))
    assert Counter(a.status for a in answers) == {201: 7, 429: 33}


async def test_a_stranger_cannot_lock_out_the_real_user(  # type: ignore[no-untyped-def]
    make_client, limits_settings: Settings
) -> None:
    """Five wrong passwords from one address lock that address only; ten (from two) make the
    username wait its first delay, after which the right password from a third address passes."""
    client = await make_client()
    limiter = client.server.app[LOGIN_LIMITER]
    ahead = [0.0]  # the in-process counts read this clock; Redis reads its own
    limiter.clock = lambda: time.monotonic() + ahead[0]
    wrong = {"username": "agent.ar", "password": "wrong-password"}
    right = {"username": "agent.ar", "password": "demo-agent-pass"}
    async with AsyncExitStack() as stack:
        a1, a2, b, c = await from_addresses(stack, 4)
        for _ in range(5):
            assert await post(a1, client, "/api/login", wrong) == 401
        assert await post(a1, client, "/api/login", right) == 429  # this address is locked
        assert await post(b, client, "/api/login", right) == 200  # the user is not

        for _ in range(5):
            assert await post(a2, client, "/api/login", wrong) == 401
        async with c.post(client.make_url("/api/login"), json=right) as refused:
            assert refused.status == 429  # ten failures: the username waits...
            assert 1 <= int(refused.headers["Retry-After"]) <= 2
        first_delay = LOGIN_RULES["username"].backoff
        if limits_settings.redis_url:
            await asyncio.sleep(first_delay)
        else:
            ahead[0] += first_delay
        assert await post(c, client, "/api/login", right) == 200  # ...one second, no more
        assert await post(a1, client, "/api/login", right) == 429  # still locked there
