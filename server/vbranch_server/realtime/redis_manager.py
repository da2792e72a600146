"""Socket.IO's Redis manager, publishing on the pipelined link.

It overrides a private method of python-socketio's `AsyncRedisManager` (`_redis_connect`, and the
`redis`, `pubsub` and `connected` attributes it sets): pinned in pyproject.toml, and watched by
tests/queue/test_private_apis.py, which says what changed if an upgrade moves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio
from redis.asyncio import Redis

from vbranch_queue.redis_link import RedisLink


class PublishingRedisManager(socketio.AsyncRedisManager):
    """`AsyncRedisManager` publishing on one pipelined connection (`RedisLink`).

    Its own client uses redis-py's default pool, which refuses a 101st concurrent command with
    MaxConnectionsError: under a burst of emits (1,000 clients) publishes failed, were logged as
    "Cannot publish to redis... retrying", and a second failure would lose the emit for the other
    processes. One connection carries any number of publishes at once, and costs less per emit.
    Listening stays on redis-py's pub/sub client, made with `redis_options` (TLS files,
    keepalive).
    """

    #: Set by `_redis_connect` (python-socketio declares them untyped).
    redis: Any
    pubsub: Any

    def __init__(
        self,
        url: str,
        channel: str = "socketio",
        *,
        link: Callable[[], RedisLink] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(url, channel=channel, **kwargs)
        self._new_link = link or (lambda: RedisLink.from_url(url))

    def _redis_connect(self) -> None:
        # Called again after each failed publish or lost subscription. The link reconnects by
        # itself on its next command, so it is kept: a new one each time would leave the old one's
        # socket and reader task behind for good.
        if self.redis is None:
            self.redis = self._new_link()
        self.pubsub = Redis.from_url(self.redis_url, **self.redis_options).pubsub(
            ignore_subscribe_messages=True
        )
        self.connected = True
