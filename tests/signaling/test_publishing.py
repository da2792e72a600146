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
