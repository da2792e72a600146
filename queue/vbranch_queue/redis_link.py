"""One pipelined connection to Redis for all of a process's queue and registry commands.

redis-py's asyncio client takes a connection from its pool for every command and gives it back,
with a lock, a timeout, a readiness check and metrics hooks each time: about 120 µs of CPU per
command on the benchmark machine, and a call makes some 30 commands. Redis answers the commands of
one connection in the order they were sent, so a single connection can carry every command at
once: each is written as it comes and its future is answered in turn by one reader task (about
13 µs per command, measured the same way).

`RedisLink` offers the subset of redis-py's interface that the routing store, the registry and
the timer lease use, with the same results and exceptions (`decode_responses=True`), so either
client can stand behind them. A lost connection fails the commands under way with redis-py's
`ConnectionError`; the next command connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

Command = tuple[Any, ...]
#: Turns a raw reply into what redis-py's method of that name returns.
Convert = Callable[[Any], Any]


def _same(reply: Any) -> Any:
    return reply


def _pairs(reply: Any) -> dict[Any, Any]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _ok(reply: Any) -> bool | None:
    # SET answers OK, or nothing when NX/XX kept it from setting (redis-py: True / None).
    return True if reply == "OK" else None


async def _answered(answers: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """Every answer, or the first error once all are in (none left unretrieved)."""
    replies = await asyncio.gather(*answers, return_exceptions=True)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return replies


def _error(reply: hiredis.ReplyError) -> ResponseError:
    return BaseParser.parse_error(str(reply))  # redis-py's own mapping (NOSCRIPT, ERR, ...)


class _Commands:
    """The commands used by the stores, each as redis-py names and answers them."""

    def _command(self, convert: Convert, *args: Any) -> Any:
        raise NotImplementedError

    def get(self, name: str) -> Any:
        return self._command(_same, "GET", name)

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
        return self._command(_same, "EXISTS", *names)

    def delete(self, *names: str) -> Any:
        return self._command(_same, "DEL", *names)

    def pexpire(self, name: str, milliseconds: int) -> Any:
        return self._command(bool, "PEXPIRE", name, milliseconds)

    def hget(self, name: str, key: str) -> Any:
        return self._command(_same, "HGET", name, key)

    def hset(self, name: str, key: str, value: Any) -> Any:
        return self._command(_same, "HSET", name, key, value)

    def hdel(self, name: str, *keys: str) -> Any:
        return self._command(_same, "HDEL", name, *keys)

    def hgetall(self, name: str) -> Any:
        return self._command(_pairs, "HGETALL", name)

    def sadd(self, name: str, *values: Any) -> Any:
        return self._command(_same, "SADD", name, *values)

    def srem(self, name: str, *values: Any) -> Any:
        return self._command(_same, "SREM", name, *values)

    def scard(self, name: str) -> Any:
        return self._command(_same, "SCARD", name)

    def smembers(self, name: str) -> Any:
        return self._command(set, "SMEMBERS", name)

    def zadd(self, name: str, mapping: Mapping[str, float]) -> Any:
        scored = [part for member, score in mapping.items() for part in (score, member)]
        return self._command(_same, "ZADD", name, *scored)

    def zrem(self, name: str, *values: Any) -> Any:
        return self._command(_same, "ZREM", name, *values)

    def zrangebyscore(self, name: str, min: Any, max: Any) -> Any:
        return self._command(_same, "ZRANGEBYSCORE", name, min, max)

    def publish(self, channel: str, message: Any) -> Any:
        return self._command(_same, "PUBLISH", channel, message)


class RedisLink(_Commands):
    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        path: str | None = None,
        tls: bool = False,
    ) -> None:
        self._address = (host, port, path, tls)
        self._handshake: list[Command] = []
        if password is not None:
            self._handshake.append(("AUTH", *([username] if username else []), password))
        if db:
            self._handshake.append(("SELECT", db))
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        #: The futures of the commands sent and not yet answered, in the order they were sent.
        self._waiting: deque[tuple[asyncio.Future[Any], Convert]] = deque()
        self._connecting = asyncio.Lock()
        self._closed = False
        #: Commands sent in this turn of the event loop, written together at its end.
        self._outbox: list[bytes] = []

    @classmethod
    def from_url(cls, url: str) -> RedisLink:
        options = parse_url(url)
        return cls(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
            path=options.get("path"),
            tls=options.get("connection_class") is SSLConnection,
        )

    # --- sending and answering -------------------------------------------------------------

    async def execute_command(self, *args: Any) -> Any:
        return await self._command(_same, *args)

    async def _command(self, convert: Convert, *args: Any) -> Any:
        [answer] = await self._send([(convert, args)])
        return await answer

    async def _send(self, commands: Sequence[tuple[Convert, Command]]) -> list[asyncio.Future[Any]]:
        """Queues the commands together (so a MULTI … EXEC stays together on the connection) and
        returns the future of each answer."""
        if self._writer is None:
            await self._connect()
        loop = asyncio.get_running_loop()
        answers = []
        for convert, _ in commands:
            answer: asyncio.Future[Any] = loop.create_future()
            self._waiting.append((answer, convert))
            answers.append(answer)
        self._outbox.extend(hiredis.pack_command(args) for _, args in commands)
        if len(self._outbox) == len(commands):  # the first since the last flush
            loop.call_soon(self._flush)
        return answers

    def _flush(self) -> None:
        """Everything sent during one turn of the event loop leaves in one write (one system
        call instead of one per command)."""
        if self._outbox and self._writer is not None:
            outbox, self._outbox = self._outbox, []
            self._writer.write(b"".join(outbox))

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._closed:
                raise ConnectionError("the Redis link is closed")
            if self._writer is not None:
                return self._writer  # another command connected meanwhile
            host, port, path, tls = self._address
            try:
                if path:
                    reader, writer = await asyncio.open_unix_connection(path)
                else:
                    context = ssl.create_default_context() if tls else None
                    reader, writer = await asyncio.open_connection(host, port, ssl=context)
            except OSError as exc:
                raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._reader_task = asyncio.create_task(self._answer(reader), name="redis link")
            self._writer = writer
            # Written before anything else can be: commands sent meanwhile queue behind them.
            await _answered(await self._send([(_same, command) for command in self._handshake]))
            return writer

    async def _answer(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(encoding="utf-8")
        reason = "Redis closed the connection"
        try:
            while data := await reader.read(1 << 16):
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    answer, convert = self._waiting.popleft()
                    if answer.done():
                        continue  # its caller was cancelled
                    if isinstance(reply, hiredis.ReplyError):
                        answer.set_exception(_error(reply))
                        continue
                    try:
                        answer.set_result(convert(reply))
                    except Exception as exc:
                        answer.set_exception(exc)
        except (OSError, hiredis.ProtocolError) as exc:
            reason = f"Redis connection lost: {exc!r}"
        finally:
            self._lost(reason)

    def _lost(self, reason: str) -> None:
        """Every command under way fails; the next one connects again."""
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._outbox = []
        while self._waiting:
            answer, _ = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(ConnectionError(reason))

    async def aclose(self) -> None:
        self._closed = True
        task = self._reader_task
        if self._writer is not None:
            self._writer.close()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._lost("the Redis link is closed")

    # --- pipelines and scripts ---------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self, transaction)

    def register_script(self, script: str) -> Script:
        return Script(self, script)


class Pipeline(_Commands):
    """Commands queued, then written together; with `transaction`, inside MULTI … EXEC."""

    def __init__(self, link: RedisLink, transaction: bool) -> None:
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
            return await _answered(await self._link._send(queued))
        answers = await self._link._send(
            [(_same, ("MULTI",)), *((_same, args) for _, args in queued), (_same, ("EXEC",))]
        )
        # OK, QUEUED…, then EXEC's replies; a command refused when queued aborts the EXEC.
        *_, replies = await _answered(answers)
        if replies is None:
            raise ResponseError("the transaction was aborted")
        results = []
        for (convert, _), reply in zip(queued, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                raise _error(reply)
            results.append(convert(reply))
        return results


class Script:
    """A Lua script run by its SHA1, loaded (by EVAL) the first time Redis does not know it."""

    def __init__(self, link: RedisLink, source: str) -> None:
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
