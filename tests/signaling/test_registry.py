"""The call registry's contract, on memory and on the real Redis: compare-and-set transitions,
indexes that follow the calls, visits, sockets and grace periods."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from vbranch_queue.core.model import Needs
from vbranch_queue.redis_link import RedisLink
from vbranch_signaling import redis_registry
from vbranch_signaling.calls import CallSession, CallState, accepted, connected, hung_up, wrapped_up
from vbranch_signaling.redis_registry import RedisRegistry
from vbranch_signaling.registry import MemoryRegistry, Visit


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        # The same registry on the server's own pipelined connection.
        pytest.param("redis-link", marks=pytest.mark.redis),
    ]
)
def registry_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    url = request.getfixturevalue("redis_url") if request.param != "memory" else None
    return request.param, url


@pytest.fixture
async def registry(registry_kind) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    kind, url = registry_kind
    if kind == "memory":
        yield MemoryRegistry()
        return
    client = Redis.from_url(url, decode_responses=True)
    link = RedisLink.from_url(url) if kind == "redis-link" else None
    prefix = f"vbt-reg-{uuid.uuid4().hex[:8]}:"
    yield RedisRegistry(link or client, prefix=prefix)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    if link is not None:
        await link.aclose()


def _call(call_id: str = "k1", agent_id: str = "7") -> CallSession:
    return CallSession(
        call_id,
        "v1",
        agent_id,
        f"o-{call_id}",
        "pensions|ar|-",
        100.0,
        110.0,
        offer_expires_at=130.0,
    )


async def test_compare_and_set_moves_a_call_only_once(registry) -> None:  # type: ignore[no-untyped-def]
    offered = _call()
    await registry.put_call(offered)
    connecting = accepted(offered, 115.0, "VB-2026-000001")
    assert await registry.replace_call(offered, connecting)
    assert not await registry.replace_call(offered, connecting)  # the second mover loses
    assert await registry.get_call("k1") == connecting
    assert await registry.call_for_offer("o-k1") == connecting
    assert await registry.call_of_agent("7") == connecting
    # A late writer holding an old state cannot put it back.
    in_call = connected(connecting, 118.0)
    ended = hung_up(in_call, 200.0)
    assert await registry.replace_call(connecting, in_call)
    assert await registry.replace_call(in_call, ended)
    assert not await registry.replace_call(connecting, in_call)
    assert (await registry.get_call("k1")).state is CallState.WRAP_UP


async def test_a_finished_call_leaves_no_index_but_keeps_the_agents_newer_call(registry) -> None:  # type: ignore[no-untyped-def]
    old = wrapped_up(hung_up(connected(accepted(_call("k1"), 1.0, "r"), 2.0), 3.0), 4.0)
    newer = _call("k2")
    await registry.put_call(hung_up(connected(accepted(_call("k1"), 1.0, "r"), 2.0), 3.0))
    await registry.put_call(newer)  # the agent's next offer, made by another process
    assert await registry.replace_call(replace(old, state=CallState.WRAP_UP), old)
    assert await registry.get_call("k1") is None
    assert await registry.call_for_offer("o-k1") is None
    assert await registry.call_of_agent("7") == newer
    assert [c.call_id for c in await registry.open_calls()] == ["k2"]


async def test_visits_sockets_and_grace(registry) -> None:  # type: ignore[no-untyped-def]
    visit = Visit(
        "v1", "ar", display_name="هدى", needs=Needs("pensions", "ar", True), ended={"call_id": "k1"}
    )
    await registry.put_visit(visit)
    assert await registry.get_visit("v1") == visit
    in_call = Visit("v2", "en", needs=Needs("pensions", "en"), call_id="k9")
    await registry.put_visit(in_call)
    assert await registry.waiting_visits() == [visit]
    assert sorted(await registry.all_visits(), key=lambda v: v.visit_id) == [visit, in_call]
    await registry.socket_opened("customer:v1", "s1")
    await registry.socket_opened("customer:v1", "s2")
    assert await registry.sockets_of("customer:v1") == {"s1", "s2"}
    assert await registry.sockets_of("customer:nobody") == set()
    assert await registry.socket_closed("customer:v1", "s1") == 1
    assert await registry.open_sockets("customer:v1") == 1
    assert await registry.socket_closed("customer:v1", "s2") == 0
    await registry.start_grace("customer:v1", 130.0)
    assert await registry.expired_graces(129.0) == []
    assert await registry.expired_graces(130.0) == ["customer:v1"]
    assert await registry.expired_graces(131.0) == []  # claimed once
    await registry.start_grace("agent:7", 10.0)
    assert await registry.end_grace("agent:7") and not await registry.end_grace("agent:7")
    await registry.drop_visit("v1")
    assert await registry.get_visit("v1") is None


@pytest.mark.redis
async def test_the_sockets_of_a_crashed_process_are_forgotten(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    prefix = f"vbt-reg-{uuid.uuid4().hex[:8]}:"
    alive, crashed = (RedisRegistry(client, prefix=prefix, process=p) for p in ("a", "b"))
    try:
        await alive.socket_opened("customer:v1", "s1")
        await crashed.socket_opened("customer:v1", "s2")  # the same customer, two tabs
        await crashed.socket_opened("agent:7", "s3")
        await crashed.socket_opened("customer:v2", "s4")
        await crashed.socket_closed("customer:v2", "s4")  # closed normally before the crash
        assert await alive.forget_dead_processes() == []  # both are alive (from their sockets)
        for registry in (alive, crashed):
            await registry.process_alive()
        assert await alive.forget_dead_processes() == []

        await client.delete(f"{prefix}process:b")  # b stops saying it is alive: it crashed
        # Only the agent lost their last socket; the customer still has the tab on process a.
        assert await alive.forget_dead_processes() == ["agent:7"]
        assert await alive.sockets_of("customer:v1") == {"s1"}
        assert await alive.open_sockets("agent:7") == 0
        assert await alive.forget_dead_processes() == []  # forgotten once
        assert await client.smembers(f"{prefix}processes") == {"a"}
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_one_process_never_has_dead_processes() -> None:
    registry = MemoryRegistry()
    await registry.socket_opened("agent:7", "s1")
    await registry.process_alive()
    assert await registry.forget_dead_processes() == []


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(300):  # 3 s
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 3 s")


@pytest.mark.redis
async def test_a_call_offered_and_accepted_here_relays_from_memory(redis_url: str) -> None:
    """The usual life of a call on one process: stored when offered, moved to connecting when
    accepted. From then on its relays come from memory, without a Redis read."""
    client, subscriber = RedisLink.from_url(redis_url), Redis.from_url(redis_url)
    prefix = f"vbt-reg-{uuid.uuid4().hex[:8]}:"
    registry = RedisRegistry(client, prefix=prefix, process="a")
    listening = asyncio.create_task(registry.listen_for_moves(subscriber))
    try:

        async def subscribed() -> bool:
            return registry._listening

        await _until(subscribed)
        offered = _call("k1")
        await registry.put_call(offered)
        connecting = accepted(offered, 101.0)
        assert await registry.replace_call(offered, connecting)
        # Changed behind the registry's back: only a read from Redis would see it.
        await client.hset(f"{prefix}calls", "k1", redis_registry._call_json(offered))
        assert await registry.relaying_call("k1") == connecting
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        keys = [key async for key in subscriber.scan_iter(match=f"{prefix}*")]
        if keys:
            await subscriber.delete(*keys)
        await subscriber.aclose()
        await client.aclose()


@pytest.mark.redis
async def test_relays_come_from_memory_until_any_process_ends_the_call(redis_url: str) -> None:
    """Process a serves relays from its cache; process b hangs the call up; a hears of it at once
    and reads Redis again. Without the subscription every relay reads Redis."""
    client, subscriber = RedisLink.from_url(redis_url), Redis.from_url(redis_url)
    prefix = f"vbt-reg-{uuid.uuid4().hex[:8]}:"
    a, b = (RedisRegistry(client, prefix=prefix, process=p) for p in ("a", "b"))
    listening = asyncio.create_task(a.listen_for_moves(subscriber))
    try:

        async def subscribed() -> bool:
            return a._listening

        await _until(subscribed)
        connecting = accepted(_call("k1"), 101.0)
        await b.put_call(connecting)
        assert await a.relaying_call("k1") == connecting
        # Changed behind the registries' backs (no process moved it): a still relays from memory.
        in_call = connected(connecting, 102.0)
        await client.hset(f"{prefix}calls", "k1", redis_registry._call_json(in_call))
        assert await a.relaying_call("k1") == connecting
        assert await b.relaying_call("k1") == in_call  # b does not listen: it reads Redis

        assert await b.replace_call(in_call, hung_up(in_call, 103.0))

        async def heard() -> bool:
            call = await a.relaying_call("k1")
            return call is not None and call.state is CallState.WRAP_UP

        await _until(heard)
        # Its own move is known at once; a call that stopped relaying is not cached again.
        second = accepted(_call("k2", agent_id="8"), 101.0)
        await a.put_call(second)
        assert await a.replace_call(second, hung_up(second, 104.0))
        assert (await a.relaying_call("k2")).state is CallState.WRAP_UP  # type: ignore[union-attr]
        await client.hset(f"{prefix}calls", "k2", redis_registry._call_json(second))
        assert await a.relaying_call("k2") == second  # read from Redis, not from memory
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        assert not a._listening
        keys = [key async for key in subscriber.scan_iter(match=f"{prefix}*")]
        if keys:
            await subscriber.delete(*keys)
        await subscriber.aclose()
        await client.aclose()
