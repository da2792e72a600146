"""With Redis, several processes count each limit once for all of them (the real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from vbranch_server.app import create_app
from vbranch_server.auth.ratelimit import LOGIN_RULES, Limiter, Rule
from vbranch_server.keys import LOGIN_LIMITER

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(redis_url)
    prefix = f"vbt-limits-{uuid.uuid4().hex[:8]}:"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_processes_share_one_count(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    first, second = (Limiter("login", LOGIN_RULES) for _ in range(2))
    for limiter in (first, second):
        limiter.share(client, prefix)
    parts = {"pair": "198.51.100.1|agent.ar", "username": "agent.ar", "address": "198.51.100.1"}
    for limiter in (first, first, first, second):
        assert not (await limiter.reserve(parts)).refused  # four failures: they stay counted
    fifth = await second.reserve(parts)
    assert not fifth.refused
    for limiter in (first, second):
        attempt = await limiter.reserve(parts)
        assert attempt.refused and 299 < attempt.retry_after <= 300
    other = {"pair": "198.51.100.2|agent.ar", "username": "agent.ar", "address": "198.51.100.2"}
    assert not (await first.reserve(other)).refused  # another client is not held
    # The fifth succeeded: it no longer counts and the pair is forgotten, for every process.
    await fifth.release(clear=["pair"])
    assert not (await first.reserve(parts)).refused
    assert len(first.local) == len(second.local) == 0  # nothing was counted in the processes


async def test_attempts_age_out_and_their_keys_expire(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    limiter = Limiter("track", {"address": Rule(most=2, window=1)})
    limiter.share(client, prefix)
    for _ in range(2):
        assert not (await limiter.reserve({"address": "x"})).refused
    refused = await limiter.reserve({"address": "x"})
    assert refused.refused and 0 < refused.retry_after <= 1
    await asyncio.sleep(1.1)
    assert await client.exists(f"{prefix}track:address:x") == 0  # Redis dropped the key itself
    assert not (await limiter.reserve({"address": "x"})).refused


async def test_a_login_limit_holds_across_two_servers(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data, redis_url: str
) -> None:
    """Five wrong passwords spread over two processes lock the name on both, as on one."""
    shared = replace(
        settings, redis_url=redis_url, redis_prefix=f"vbt-login-{uuid.uuid4().hex[:8]}:"
    )
    servers = [await aiohttp_client(create_app(shared, clock=clock)) for _ in range(2)]

    async def log_in(server, password: str) -> int:  # type: ignore[no-untyped-def]
        response = await server.post(
            "/api/login", json={"username": "agent.en", "password": password}
        )
        return response.status

    for n in range(5):
        assert await log_in(servers[n % 2], "wrong-password") == 401
    for server in servers:
        assert await log_in(server, "demo-agent-pass") == 429
    assert len(servers[0].server.app[LOGIN_LIMITER].local) == 0  # counted in Redis only
    cleanup = Redis.from_url(redis_url)
    keys = [key async for key in cleanup.scan_iter(match=f"{shared.redis_prefix}*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()
