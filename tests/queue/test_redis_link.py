"""The pipelined Redis connection answers like redis-py (the real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from vbranch_queue.redis_link import RedisLink

pytestmark = pytest.mark.redis


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[tuple[RedisLink, Redis, str]]:
    """The link, redis-py on the same database for checking, and a key prefix of the test's own."""
    link, plain = RedisLink.from_url(redis_url), Redis.from_url(redis_url, decode_responses=True)
    prefix = f"vbt-link-{uuid.uuid4().hex[:8]}:"
    yield link, plain, prefix
    keys = [key async for key in plain.scan_iter(match=f"{prefix}*")]
    if keys:
        await plain.delete(*keys)
    await plain.aclose()
    await link.aclose()


async def test_commands_answer_as_redis_py_does(link: tuple[RedisLink, Redis, str]) -> None:
    redis, plain, p = link
    assert await redis.set(f"{p}s", "1", px=5000, nx=True) is True
    assert await redis.set(f"{p}s", "2", nx=True) is None  # NX kept it
    assert await redis.get(f"{p}s") == await plain.get(f"{p}s") == "1"
    assert await redis.pexpire(f"{p}s", 5000) is True
    assert await redis.exists(f"{p}s", f"{p}none") == 1
    assert await redis.hset(f"{p}h", "k", "v") == 1
    assert await redis.hget(f"{p}h", "k") == "v"
    assert await redis.hget(f"{p}h", "none") is None
    assert await redis.hgetall(f"{p}h") == await plain.hgetall(f"{p}h") == {"k": "v"}
    assert await redis.hgetall(f"{p}none") == {}
    assert await redis.sadd(f"{p}set", "a", "b") == 2
    assert await redis.smembers(f"{p}set") == await plain.smembers(f"{p}set") == {"a", "b"}
    assert await redis.srem(f"{p}set", "a") == 1 and await redis.scard(f"{p}set") == 1
    assert await redis.zadd(f"{p}z", {"x": 1.5, "y": 3}) == 2
    assert await redis.zrangebyscore(f"{p}z", "-inf", 2) == ["x"]
    assert await redis.zrem(f"{p}z", "x") == 1
    assert await redis.hdel(f"{p}h", "k") == 1
    assert await redis.delete(f"{p}s", f"{p}set") == 2
    assert await redis.publish(f"{p}channel", "nobody listens") == 0


async def test_many_commands_at_once_each_get_their_own_answer(
    link: tuple[RedisLink, Redis, str],
) -> None:
    redis, plain, p = link
    await asyncio.gather(*(redis.hset(f"{p}h", str(n), f"value {n}") for n in range(500)))
    answers = await asyncio.gather(*(redis.hget(f"{p}h", str(n)) for n in range(500)))
    assert answers == [f"value {n}" for n in range(500)]
    assert len(await plain.hgetall(f"{p}h")) == 500


async def test_a_transaction_is_written_whole_and_answers_each_command(
    link: tuple[RedisLink, Redis, str],
) -> None:
    redis, _, p = link
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(f"{p}set", "a", "b")
        pipe.srem(f"{p}set", "a")
        pipe.scard(f"{p}set")
        pipe.set(f"{p}s", "1", ex=10, nx=True)
        assert await pipe.execute() == [2, 1, 1, True]
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(f"{p}s")
        pipe.smembers(f"{p}set")
        assert await pipe.execute() == ["1", {"b"}]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(f"{p}s", "2")
        pipe.hget(f"{p}s", "wrong type")  # a string is not a hash: refused when run
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await pipe.execute()
    assert await redis.get(f"{p}s") == "2"  # a transaction does not roll back


async def test_scripts_load_themselves_and_their_errors_read_as_redis_py_s(
    link: tuple[RedisLink, Redis, str],
) -> None:
    redis, plain, p = link
    source = f"-- {p}\nreturn {{KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}}"
    # A source of the test's own, so unknown to Redis: the first run loads it.
    script = redis.register_script(source)
    assert await plain.script_exists(script.sha) == [False]
    assert await script(keys=[f"{p}n"], args=["x"]) == [f"{p}n", "x", 1]
    assert await plain.script_exists(script.sha) == [True]
    assert await script(keys=[f"{p}n"], args=["y"]) == [f"{p}n", "y", 2]  # by its SHA1 now
    refusal = redis.register_script("return redis.error_reply('AGENT_BUSY agent 7 is on a call')")
    with pytest.raises(ResponseError) as refused:
        await refusal()
    assert str(refused.value) == "AGENT_BUSY agent 7 is on a call"  # as the routing store reads it


async def test_a_lost_connection_fails_what_was_under_way_and_the_next_command_reconnects(
    link: tuple[RedisLink, Redis, str],
) -> None:
    redis, plain, p = link
    client_id = await redis.execute_command("CLIENT", "ID")
    blocked = asyncio.ensure_future(redis.execute_command("BLPOP", f"{p}never", 10))
    await asyncio.sleep(0.1)
    await plain.execute_command("CLIENT", "KILL", "ID", client_id)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(blocked, 5)
    assert await redis.set(f"{p}s", "back") is True
    assert await redis.execute_command("CLIENT", "ID") != client_id
    assert await plain.get(f"{p}s") == "back"


async def test_the_database_of_the_url_is_the_one_used(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    key = f"vbt-link-{uuid.uuid4().hex[:8]}"
    link, plain = RedisLink.from_url(f"{base}/13"), Redis.from_url(f"{base}/13")
    other = Redis.from_url(f"{base}/12")
    try:
        await link.set(key, "here", ex=60)
        assert await plain.get(key) == b"here"
        assert await other.get(key) is None
    finally:
        await plain.delete(key)
        for client in (plain, other):
            await client.aclose()
        await link.aclose()


async def test_a_closed_link_refuses_commands(redis_url: str) -> None:
    link = RedisLink.from_url(redis_url)
    await link.get("vbt-link-anything")
    await link.aclose()
    with pytest.raises(ConnectionError):
        await link.get("vbt-link-anything")
