"""The routing store under test: every contract test runs on memory and on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from vbranch_queue.core.model import RoutingConfig
from vbranch_queue.memory import MemoryRoutingStore

CONFIG = RoutingConfig(offer_timeout=20, wrap_up_seconds=30, max_missed_offers=2)


async def make_store(kind: str, url: str | None, config: RoutingConfig, zone=None):  # type: ignore[no-untyped-def]
    if kind == "memory":
        return MemoryRoutingStore(config, zone=zone), None
    from redis.asyncio import Redis

    from vbranch_queue.redis_link import RedisLink
    from vbranch_queue.redis_store import RedisRoutingStore

    client = Redis.from_url(url, decode_responses=True)
    # "redis-link": the same store on the server's own pipelined connection.
    link = RedisLink.from_url(url) if kind == "redis-link" else None
    prefix = f"vbt:{uuid.uuid4().hex[:10]}:"
    store = RedisRoutingStore(link or client, config, prefix=prefix, zone=zone)
    return store, (client, link, prefix)


async def drop_store(resources) -> None:  # type: ignore[no-untyped-def]
    if resources is None:
        return
    client, link, prefix = resources
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    if link is not None:
        await link.aclose()


STORE_KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis-link", marks=pytest.mark.redis),
]


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The kind and, for Redis, its URL: resolved here because the probe runs an event loop of
    its own, which cannot start inside the test's running loop (an async fixture)."""
    url = request.getfixturevalue("redis_url") if request.param != "memory" else None
    return request.param, url


@pytest.fixture
async def store(store_kind: tuple[str, str | None]) -> AsyncIterator[object]:
    made, resources = await make_store(*store_kind, CONFIG)
    yield made
    await drop_store(resources)


@pytest.fixture
async def store_factory(store_kind: tuple[str, str | None]) -> AsyncIterator[object]:
    """For tests that need a configuration of their own."""
    made: list[object] = []

    async def factory(config: RoutingConfig, zone=None):  # type: ignore[no-untyped-def]
        built, resources = await make_store(*store_kind, config, zone)
        made.append(resources)
        return built

    yield factory
    for resources in made:
        await drop_store(resources)
