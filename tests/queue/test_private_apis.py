"""Canaries: the private parts of redis-py, hiredis and python-socketio that vbranch relies on.

pyproject.toml pins each library below its next major version, and these tests say loudly, when
an upgrade within the pins changes one of them, what changed and where vbranch uses it. They need
no Redis: they check names, signatures and behaviour in memory.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from typing import Any

import hiredis
import pytest
import socketio
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError

from vbranch_server.realtime.redis_manager import PublishingRedisManager


def _changed(library: str, what: str, where: str) -> str:
    version = importlib.metadata.version(library)
    return (
        f"{library} {version} changed {what}. vbranch relies on it in {where}: adapt that code "
        f"(and its pin in pyproject.toml) before upgrading."
    )


def test_redis_py_maps_error_replies_as_the_link_expects() -> None:
    where = "queue/vbranch_queue/redis_commands.py (`error`, imported from redis._parsers.base)"
    try:
        from redis._parsers.base import BaseParser
    except ImportError:
        pytest.fail(_changed("redis", "the private module redis._parsers.base", where))
    parse_error = getattr(BaseParser, "parse_error", None)
    assert callable(parse_error), _changed("redis", "BaseParser.parse_error (gone)", where)
    expected: list[tuple[str, type[Exception], str]] = [
        ("NOSCRIPT No matching script.", NoScriptError, "No matching script."),
        (
            "WRONGPASS invalid username-password pair",
            AuthenticationError,
            "invalid username-password pair",
        ),
        ("ERR unknown command", ResponseError, "unknown command"),
        # The routing store reads its own refusals (error_reply in Lua) by their full text.
        ("AGENT_BUSY agent 7 is on a call", ResponseError, "AGENT_BUSY agent 7 is on a call"),
    ]
    for reply, kind, text in expected:
        error = parse_error(reply)
        assert type(error) is kind and str(error) == text, _changed(
            "redis", f"what BaseParser.parse_error({reply!r}) returns: {error!r}", where
        )


def test_redis_py_reads_urls_as_the_link_expects() -> None:
    where = "queue/vbranch_queue/redis_link.py (`RedisLink.from_url`)"
    from redis.asyncio.connection import SSLConnection, parse_url

    options = parse_url("rediss://user:p%20w@redis.example:6380/2?ssl_ca_certs=/ca.pem")
    assert options == {
        "username": "user",
        "password": "p w",
        "host": "redis.example",
        "port": 6380,
        "db": 2,
        "ssl_ca_certs": "/ca.pem",
        "connection_class": SSLConnection,
    }, _changed("redis", f"what redis.asyncio.connection.parse_url returns: {options}", where)


def test_hiredis_packs_and_parses_as_the_link_expects() -> None:
    where = "queue/vbranch_queue/redis_link.py (`_Connection`: pack_command, Reader)"
    assert (
        hiredis.pack_command(("SET", "k", 1.5)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n1.5\r\n"
    ), _changed("hiredis", "pack_command", where)
    reader = hiredis.Reader(encoding="utf-8")
    reader.feed(b"+OK\r\n-NOSCRIPT gone\r\n*2\r\n$1\r\na\r\n:3\r\n$5\r\nhal")
    replies = [reader.gets(), reader.gets(), reader.gets(), reader.gets()]
    assert replies[0] == "OK" and replies[2] == ["a", 3] and replies[3] is False, _changed(
        "hiredis", f"Reader.gets(): {replies}", where
    )
    assert isinstance(replies[1], hiredis.ReplyError), _changed("hiredis", "ReplyError", where)
    assert issubclass(hiredis.ProtocolError, Exception), _changed("hiredis", "ProtocolError", where)


def test_python_socketio_s_redis_manager_is_as_publishing_redis_manager_expects() -> None:
    where = "server/vbranch_server/realtime/redis_manager.py (PublishingRedisManager)"
    base = socketio.AsyncRedisManager
    signature = inspect.signature(base.__init__)
    assert {"url", "channel", "logger", "redis_options"} <= set(signature.parameters), _changed(
        "python-socketio", f"AsyncRedisManager.__init__{signature}", where
    )
    connect = getattr(base, "_redis_connect", None)
    assert connect is not None and list(inspect.signature(connect).parameters) == ["self"], (
        _changed("python-socketio", "the private AsyncRedisManager._redis_connect(self)", where)
    )
    # It publishes with self.redis.publish after _redis_connect, and listens on self.pubsub.
    publish, listen = (
        inspect.getsource(base._publish),
        inspect.getsource(base._redis_listen_with_retries),
    )
    for source, needed in (
        (publish, "self._redis_connect()"),
        (publish, "self.redis.publish("),
        (listen, "self._redis_connect()"),
        (listen, "self.pubsub.subscribe("),
    ):
        assert needed in source, _changed("python-socketio", f"no {needed} in its manager", where)


async def test_publishing_goes_through_the_link_made_by_redis_connect() -> None:
    where = "server/vbranch_server/realtime/redis_manager.py (PublishingRedisManager)"
    published: list[tuple[str, Any]] = []

    class Link:
        async def publish(self, channel: str, message: Any) -> int:
            published.append((channel, message))
            return 1

    manager = PublishingRedisManager(
        "redis://127.0.0.1:1/0",  # never connected: the pub/sub client connects lazily
        channel="canary",
        link=Link,  # type: ignore[arg-type]
        logger=logging.getLogger("canary"),
    )
    await manager._publish({"method": "emit", "event": "hello"})
    assert len(published) == 1 and published[0][0] == "canary", _changed(
        "python-socketio", f"how AsyncRedisManager._publish publishes: {published}", where
    )
    assert manager.connected and manager.pubsub is not None
