"""Socket.IO's publishing to other processes holds up under a burst (the real Redis)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from vbranch_queue.redis_link import RedisLink
from vbranch_server.realtime.wiring import PublishingRedisManager

pytestmark = pytest.mark.redis


async def test_a_burst_of_emits_is_published_whole(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A thousand emits at once all reach the other processes.

    With redis-py's default pool the 101st concurrent publish failed (MaxConnectionsError)."""
    channel = f"vbt-publish-{uuid.uuid4().hex[:8]}"
    listener = Redis.from_url(redis_url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    manager = PublishingRedisManager(redis_url, channel=channel, logger=logging.getLogger("t"))
    burst = 1000
    try:
        with caplog.at_level(logging.ERROR):
            await asyncio.gather(
                *(manager._publish({"method": "emit", "n": n}) for n in range(burst))
            )
        assert caplog.records == []
        received = 0
        async with asyncio.timeout(10):
            while received < burst:
                if await pubsub.get_message(timeout=1.0) is not None:
                    received += 1
        assert received == burst
        assert isinstance(manager.redis, RedisLink)  # one pipelined connection carried them
    finally:
        await pubsub.aclose()
        await listener.aclose()
        if manager.redis is not None:
            await manager.redis.aclose()


async def test_publishing_outlives_a_dropped_connection_on_one_link(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis drops the publishing connection: the next emit still arrives, on the same link. When
    Socket.IO reconnects after a failed publish, it keeps that link too (before, each reconnect
    made a new link and left the old one's socket and reader task behind)."""
    channel = f"vbt-publish-{uuid.uuid4().hex[:8]}"
    listener = Redis.from_url(redis_url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    manager = PublishingRedisManager(redis_url, channel=channel, logger=logging.getLogger("t"))
    try:
        with caplog.at_level(logging.ERROR):
            assert await manager._publish({"method": "emit", "n": 1}) == 1
            link = manager.redis
            assert isinstance(link, RedisLink)
            client_id = await link.execute_command("CLIENT", "ID")
            await listener.execute_command("CLIENT", "KILL", "ID", client_id)
            # Written before the link saw the close, this one fails once and Socket.IO retries
            # it after reconnecting; written after, it goes out on the new connection at once.
            assert await manager._publish({"method": "emit", "n": 2}) == 1
            # What Socket.IO does after a publish failed: reconnect before the next one.
            manager.connected = False
            assert await manager._publish({"method": "emit", "n": 3}) == 1
        assert {r.getMessage() for r in caplog.records} <= {"Cannot publish to redis... retrying"}
        assert len(caplog.records) <= 1
        assert manager.redis is link
        assert await link.execute_command("CLIENT", "ID") != client_id  # reconnected by itself
        received = []
        async with asyncio.timeout(10):
            while len(received) < 3:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    received.append(message["data"])
        assert [f'"n": {n}'.encode() in m for n, m in zip((1, 2, 3), received, strict=True)] == [
            True
        ] * 3
    finally:
        await pubsub.aclose()
        await listener.aclose()
        if manager.redis is not None:
            await manager.redis.aclose()
