"""The abuse caps' counts, on memory and on the real Redis: places in line per address and sockets
per visit hold under a concurrent burst, across two processes, and free up when they should."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from vbranch_queue.redis_link import RedisLink
from vbranch_signaling.line_places import (
    PLACE_LEASE_SECONDS,
    MemoryLinePlaces,
    RedisLinePlaces,
    TooManyOpenVisits,
)
from vbranch_signaling.redis_registry import RedisRegistry
from vbranch_signaling.registry import MemoryRegistry

ADDRESS = "203.0.113.7"


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-link", marks=pytest.mark.redis),  # the server's own connection
    ]
)
def store_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    url = request.getfixturevalue("redis_url") if request.param != "memory" else None
    return request.param, url


@pytest.fixture
async def make(store_kind: tuple[str, str | None]) -> AsyncIterator[Callable[[str, str], Any]]:
    """`make(kind, process)`: a LinePlaces ("places") or Registry ("registry") as one process
    sees it; two processes share one store (in memory: the same object)."""
    kind_of_store, url = store_kind
    if url is None:
        shared: dict[str, Any] = {"places": MemoryLinePlaces(3), "registry": MemoryRegistry()}
        yield lambda kind, process: shared[kind]
        return
    client = Redis.from_url(url, decode_responses=True)
    links: list[RedisLink] = []
    prefix = f"vbt-caps-{uuid.uuid4().hex[:8]}:"

    def build(kind: str, process: str) -> Any:
        redis: Redis | RedisLink = client
        if kind_of_store == "redis-link":
            links.append(RedisLink.from_url(url))
            redis = links[-1]
        if kind == "places":
            return RedisLinePlaces(redis, prefix, 3)
        return RedisRegistry(redis, prefix=prefix, process=process)

    yield build
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    for link in links:
        await link.aclose()


async def _reserve(places: Any, visit_id: str, address: str = ADDRESS) -> str:
    try:
        return "new" if await places.reserve(address, visit_id, 1000.0) else "held"
    except TooManyOpenVisits:
        return "refused"


async def test_a_burst_of_joins_from_one_address_gets_three_places(make) -> None:  # type: ignore[no-untyped-def]
    """20 visits from one address ask at once, through two processes: exactly 3 get a place."""
    first, second = make("places", "a"), make("places", "b")
    answers = await asyncio.gather(
        *(_reserve(first if n % 2 else second, f"v{n}") for n in range(20))
    )
    assert sorted(answers).count("new") == 3
    assert answers.count("refused") == 17
    assert await first.held(ADDRESS) == 3
    # Another address is not held back; a visit that holds a place keeps it on asking again.
    assert await _reserve(first, "w1", "198.51.100.1") == "new"
    holder = f"v{answers.index('new')}"
    assert await _reserve(second, holder) == "held"


async def test_a_place_given_back_frees_it_for_the_next_visit(make) -> None:  # type: ignore[no-untyped-def]
    places = make("places", "a")
    for n in range(3):
        assert await _reserve(places, f"v{n}") == "new"
    assert await _reserve(places, "v3") == "refused"
    await places.release("v1")
    await places.release("v1")  # twice, or for a visit that held none: nothing happens
    await places.release("nobody")
    assert await places.held(ADDRESS) == 2
    assert await _reserve(places, "v3") == "new"
    assert await _reserve(places, "v4") == "refused"


async def test_a_place_whose_release_was_lost_lapses(make) -> None:  # type: ignore[no-untyped-def]
    places = make("places", "a")
    for n in range(3):
        assert await _reserve(places, f"v{n}") == "new"
    later = 1000.0 + PLACE_LEASE_SECONDS + 1
    assert await places.reserve(ADDRESS, "v9", later)  # the three lapsed meanwhile
    assert await places.held(ADDRESS) == 1


async def test_a_burst_of_sockets_on_one_visit_gets_three(make) -> None:  # type: ignore[no-untyped-def]
    """20 sockets of one visit open at once, through two processes: exactly 3 are counted."""
    first, second = make("registry", "a"), make("registry", "b")
    opened = await asyncio.gather(
        *((first if n % 2 else second).socket_opened("customer:v1", f"s{n}", 3) for n in range(20))
    )
    assert opened.count(True) == 3
    assert await first.open_sockets("customer:v1") == 3
    kept = [f"s{n}" for n, ok in enumerate(opened) if ok]
    # The same socket again is no new one; staff sockets (no limit) are never refused.
    assert await second.socket_opened("customer:v1", kept[0], 3)
    assert all([await first.socket_opened("agent:7", f"a{n}") for n in range(10)])
    # One closes: one more may open.
    assert await first.socket_closed("customer:v1", kept[0]) == 2
    assert await second.socket_opened("customer:v1", "s-new", 3)
    assert not await second.socket_opened("customer:v1", "s-one-too-many", 3)


@pytest.mark.redis
async def test_the_sockets_of_a_crashed_process_stop_counting(redis_url: str) -> None:
    """A process that dies cannot close its sockets: once the others notice it is gone (it has
    not said it is alive for 20 s), its sockets stop counting against the visit."""
    client = Redis.from_url(redis_url, decode_responses=True)
    prefix = f"vbt-caps-{uuid.uuid4().hex[:8]}:"
    alive, crashed = (RedisRegistry(client, prefix=prefix, process=p) for p in ("a", "b"))
    try:
        for n in range(3):
            assert await crashed.socket_opened("customer:v1", f"s{n}", 3)
        assert not await alive.socket_opened("customer:v1", "s-after", 3)
        await client.delete(f"{prefix}process:b")  # b stops saying it is alive
        assert await alive.forget_dead_processes() == ["customer:v1"]
        assert await alive.socket_opened("customer:v1", "s-after", 3)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
