"""The commands `RedisLink` offers, each named and answered as redis-py names and answers it.

Split from the link itself (which owns the socket, the order of replies and the timeouts): here
are only the conversions of raw replies, pipelines and scripts, written against `Sender`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import hiredis

# Private in redis-py: its table from an error reply's first word to the exception class (NOSCRIPT,
# WRONGPASS, ...). Pinned in pyproject.toml and watched by tests/queue/test_private_apis.py.
from redis._parsers.base import BaseParser
from redis.exceptions import NoScriptError, ResponseError

Command = tuple[Any, ...]
#: Turns a raw reply into what redis-py's method of that name returns.
Convert = Callable[[Any], Any]


class Sender(Protocol):
    async def _send(
        self, commands: Sequence[tuple[Convert, Command]]
    ) -> list[asyncio.Future[Any]]: ...

    async def execute_command(self, *args: Any) -> Any: ...


def same(reply: Any) -> Any:
    return reply


def _pairs(reply: Any) -> dict[Any, Any]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _ok(reply: Any) -> bool | None:
    # SET answers OK, or nothing when NX/XX kept it from setting (redis-py: True / None).
    return True if reply == "OK" else None


async def answered(answers: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """Every answer, or the first error once all are in (none left unretrieved)."""
    replies = await asyncio.gather(*answers, return_exceptions=True)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return replies


def error(reply: hiredis.ReplyError) -> ResponseError:
    return BaseParser.parse_error(str(reply))  # redis-py's own mapping (NOSCRIPT, ERR, ...)


class Commands:
    """The commands used by the stores, each as redis-py names and answers them."""

    def _command(self, convert: Convert, *args: Any) -> Any:
        raise NotImplementedError

    def get(self, name: str) -> Any:
        return self._command(same, "GET", name)

    def set(
        self,
        name: str,
        value: Any,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
    ) -> Any:
        args: list[Any] = ["SET", name, value]
        if ex is not None:
            args += ["EX", ex]
        if px is not None:
            args += ["PX", px]
        if nx:
            args.append("NX")
        return self._command(_ok, *args)

    def exists(self, *names: str) -> Any:
        return self._command(same, "EXISTS", *names)

    def delete(self, *names: str) -> Any:
        return self._command(same, "DEL", *names)

    def pexpire(self, name: str, milliseconds: int) -> Any:
        return self._command(bool, "PEXPIRE", name, milliseconds)

    def hget(self, name: str, key: str) -> Any:
        return self._command(same, "HGET", name, key)

    def hset(self, name: str, key: str, value: Any) -> Any:
        return self._command(same, "HSET", name, key, value)

    def hdel(self, name: str, *keys: str) -> Any:
        return self._command(same, "HDEL", name, *keys)

    def hgetall(self, name: str) -> Any:
        return self._command(_pairs, "HGETALL", name)

    def sadd(self, name: str, *values: Any) -> Any:
        return self._command(same, "SADD", name, *values)

    def srem(self, name: str, *values: Any) -> Any:
        return self._command(same, "SREM", name, *values)

    def scard(self, name: str) -> Any:
        return self._command(same, "SCARD", name)

    def smembers(self, name: str) -> Any:
        return self._command(set, "SMEMBERS", name)

    def zadd(self, name: str, mapping: Mapping[str, float]) -> Any:
        scored = [part for member, score in mapping.items() for part in (score, member)]
        return self._command(same, "ZADD", name, *scored)

    def zrem(self, name: str, *values: Any) -> Any:
        return self._command(same, "ZREM", name, *values)

    def zrangebyscore(self, name: str, min: Any, max: Any) -> Any:
        return self._command(same, "ZRANGEBYSCORE", name, min, max)

    def publish(self, channel: str, message: Any) -> Any:
        return self._command(same, "PUBLISH", channel, message)

    def ping(self) -> Any:
        return self._command(_ok_pong, "PING")


def _ok_pong(reply: Any) -> bool:
    return reply == "PONG"  # redis-py answers PING with True


class Pipeline(Commands):
    """Commands queued, then written together; with `transaction`, inside MULTI … EXEC."""

    def __init__(self, link: Sender, transaction: bool) -> None:
        self._link, self._transaction = link, transaction
        self._queued: list[tuple[Convert, Command]] = []

    def _command(self, convert: Convert, *args: Any) -> Pipeline:
        self._queued.append((convert, args))
        return self

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._queued = []

    async def execute(self) -> list[Any]:
        queued, self._queued = self._queued, []
        if not queued:
            return []
        if not self._transaction:
            return await answered(await self._link._send(queued))
        answers = await self._link._send(
            [(same, ("MULTI",)), *((same, args) for _, args in queued), (same, ("EXEC",))]
        )
        # OK, QUEUED…, then EXEC's replies; a command refused when queued aborts the EXEC.
        *_, replies = await answered(answers)
        if replies is None:
            raise ResponseError("the transaction was aborted")
        results = []
        for (convert, _), reply in zip(queued, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                raise error(reply)
            results.append(convert(reply))
        return results


class Script:
    """A Lua script run by its SHA1, loaded (by EVAL) the first time Redis does not know it."""

    def __init__(self, link: Sender, source: str) -> None:
        self._link, self._source = link, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(
        self, keys: Iterable[str] | None = None, args: Iterable[Any] | None = None
    ) -> Any:
        keys, args = list(keys or ()), list(args or ())
        try:
            return await self._link.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._link.execute_command("EVAL", self._source, len(keys), *keys, *args)
