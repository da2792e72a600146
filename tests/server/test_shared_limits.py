"""With Redis, several processes count each limit once for all of them (the real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from vbranch_server.app import create_app
from vbranch_server.auth.ratelimit import Limiter
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
    first, second = (Limiter("login", max_failures=5, window_seconds=300) for _ in range(2))
    for limiter in (first, second):
        limiter.share(client, prefix)
    keys = ["ip:198.51.100.1", "user:agent.ar"]
    for limiter in (first, first, first, second):
        await limiter.record_failure(keys)
    assert await first.retry_after(keys) == 0  # four failures: one more is allowed
    await second.record_failure(keys)
    for limiter in (first, second):
        assert 299 < await limiter.retry_after(keys) <= 300
    assert await first.retry_after(["ip:198.51.100.2"]) == 0  # another client is not held
    # A successful login clears the name for every process; the address stays counted.
    await second.reset(["user:agent.ar"])
    assert await first.retry_after(["user:agent.ar"]) == 0
    assert await first.retry_after(["ip:198.51.100.1"]) > 0
    assert first.local.retry_after(keys, 0) == 0  # nothing was counted in the process itself


async def test_failures_age_out_and_their_keys_expire(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    limiter = Limiter("track", max_failures=2, window_seconds=1)
    limiter.share(client, prefix)
    await limiter.record_failure(["ip:x"])
    await limiter.record_failure(["ip:x"])
    assert 0 < await limiter.retry_after(["ip:x"]) <= 1
    await asyncio.sleep(1.1)
    assert await limiter.retry_after(["ip:x"]) == 0
    assert await client.exists(f"{prefix}track:ip:x") == 0  # Redis dropped the key itself


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
    assert servers[0].server.app[LOGIN_LIMITER].local.retry_after(["user:agent.en"], 0) == 0
    cleanup = Redis.from_url(redis_url)
    keys = [key async for key in cleanup.scan_iter(match=f"{shared.redis_prefix}*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()
