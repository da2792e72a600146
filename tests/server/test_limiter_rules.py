"""The limiter's rules one reservation at a time: hard limits, growing delays, releases; the same
decisions in this process (on a clock the test moves) and in the real Redis (on its own clock)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from vbranch_server.auth.ratelimit import LOGIN_RULES, Limiter, Rule, wait_before

BACKOFF = Rule(most=3, window=900, backoff=1, max_delay=8)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(redis_url)
    prefix = f"vbt-rules-{uuid.uuid4().hex[:8]}:"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def test_a_hard_limit_waits_for_the_oldest_to_age_out() -> None:
    rule = Rule(most=3, window=60)
    assert wait_before(rule, [], 0) == 0
    assert wait_before(rule, [1, 2], 10) == 0
    assert wait_before(rule, [1, 2, 3], 10) == 51  # the first counted ages out at 61


def test_past_the_free_attempts_the_delays_double_up_to_the_cap() -> None:
    waits = [wait_before(BACKOFF, [0.0] * n, 0.0) for n in range(3, 10)]
    assert waits == [1, 2, 4, 8, 8, 8, 8]
    # Measured from the latest attempt, and never longer than the window's own end.
    assert wait_before(BACKOFF, [0, 0, 100], 100.5) == 0.5
    assert wait_before(BACKOFF, [0, 0, 899.5], 899.5) == 0.5


async def test_a_username_is_slowed_never_locked_in_this_process() -> None:
    now = [1000.0]
    limiter = Limiter("login", {"username": BACKOFF}, clock=lambda: now[0])
    for _ in range(3):
        assert not (await limiter.reserve({"username": "agent.ar"})).refused
    for delay in (1, 2, 4, 8, 8):
        refused = await limiter.reserve({"username": "agent.ar"})
        assert refused.retry_after == delay
        now[0] += delay
        assert not (await limiter.reserve({"username": "agent.ar"})).refused


async def test_a_refused_attempt_counts_nothing_and_a_released_one_no_longer_counts() -> None:
    limiter = Limiter("login", LOGIN_RULES, clock=lambda: 0.0)
    taken = [
        await limiter.reserve({"pair": f"a|u{n}", "username": f"u{n}", "address": "a"})
        for n in range(30)
    ]
    assert not any(attempt.refused for attempt in taken)
    held = len(limiter.local)
    for n in range(1000):  # the address is full: nothing under these new names is kept
        attempt = await limiter.reserve({"pair": f"a|x{n}", "username": f"x{n}", "address": "a"})
        assert attempt.refused
    assert len(limiter.local) == held
    await taken[0].release()
    assert not (await limiter.reserve({"pair": "a|y", "username": "y", "address": "a"})).refused


@pytest.mark.redis
async def test_redis_makes_the_same_decisions(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    limiter = Limiter("login", {"username": BACKOFF, "address": Rule(most=4, window=60)})
    limiter.share(client, prefix)
    parts = {"username": "agent.ar", "address": "a"}
    taken = [await limiter.reserve(parts) for _ in range(3)]
    assert not any(attempt.refused for attempt in taken)
    refused = await limiter.reserve(parts)  # three counted: the username waits a second
    assert refused.refused and 0.5 < refused.retry_after <= 1
    await taken[0].release()  # two counted again: free
    fourth = await limiter.reserve(parts)
    assert not fourth.refused
    await limiter.reserve({"username": "other", "address": "a"})  # the address's fourth
    full = await limiter.reserve({"username": "third", "address": "a"})
    assert full.refused and 59 < full.retry_after <= 60
    # Refused or not, nothing was counted under a name the refused attempt carried.
    assert await client.exists(f"{prefix}login:username:third") == 0
    ttl = await client.pttl(f"{prefix}login:username:agent.ar")
    assert 899_000 < ttl <= 900_000  # each key expires with its rule's window
    await fourth.release(clear=["username"])
    assert await client.exists(f"{prefix}login:username:agent.ar") == 0
    assert len(limiter.local) == 0
