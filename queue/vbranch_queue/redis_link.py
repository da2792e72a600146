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
`ConnectionError`; the next command connects (authenticates, selects its database) again.

A Redis that stops answering without closing the socket (stopped, swapping, a dead peer behind a
firewall) must not hang every decision: a command unanswered after `timeout` seconds fails with
redis-py's `TimeoutError`, and so does every command behind it. The connection is then dropped,
not kept: replies are matched to commands by their order, so the late reply of a command given up
would otherwise answer the next command, and every later answer would be shifted by one. TCP
keepalive finds a dead peer even while no command waits. (So no blocking command, BLPOP and the
like, may wait longer than the timeout on the link.)
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vbranch_queue.redis_commands import (
    Command,
    Commands,
    Convert,
    Pipeline,
    Script,
    answered,
    error,
    same,
)
from vbranch_queue.redis_socket import keep_alive, keepalive_options, tls_context

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "ConnectionDropped",
    "RedisLink",
    "Script",
    "keepalive_options",
    "tls_context",
]

#: Seconds a command may wait for its reply (VBRANCH_REDIS_TIMEOUT overrides it).
DEFAULT_TIMEOUT_SECONDS = 5.0

ErrorFactory = Callable[[], Exception]


class ConnectionDropped(ConnectionError):
    """Redis closed or reset a connection it had accepted (over TLS, also how a refused client
    certificate can show: the alert may be lost to the reset)."""


class _Connection:
    """One socket: the commands written on it, answered in the order they were sent."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float | None
    ) -> None:
        self._writer, self._timeout = writer, timeout
        self._loop = asyncio.get_running_loop()
        #: The commands sent and not yet answered, in order: future, conversion, deadline.
        self._waiting: deque[tuple[asyncio.Future[Any], Convert, float]] = deque()
        #: Commands sent in this turn of the event loop, written together at its end.
        self._outbox: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost = False
        self.reader_task = asyncio.create_task(self._answer(reader), name="redis link")

    def send(self, commands: Sequence[tuple[Convert, Command]]) -> list[asyncio.Future[Any]]:
        if self.lost:  # only between a loss and the caller's next look at the link
            raise ConnectionError("Redis connection lost")
        deadline = self._loop.time() + self._timeout if self._timeout else math.inf
        answers = []
        for convert, _ in commands:
            answer: asyncio.Future[Any] = self._loop.create_future()
            self._waiting.append((answer, convert, deadline))
            answers.append(answer)
        self._outbox.extend(hiredis.pack_command(args) for _, args in commands)
        if len(self._outbox) == len(commands):  # the first since the last flush
            self._loop.call_soon(self._flush)
        if self._watchdog is None and deadline != math.inf:
            self._watchdog = self._loop.call_at(deadline, self._watch)
        return answers

    def _flush(self) -> None:
        """Everything sent during one turn of the event loop leaves in one write (one system
        call instead of one per command)."""
        if self._outbox and not self.lost:
            outbox, self._outbox = self._outbox, []
            self._writer.write(b"".join(outbox))

    def _watch(self) -> None:
        """Replies come in order, so only the oldest command can be the first overdue: one timer,
        set for its deadline, moved on to the next oldest's when it was answered in time."""
        self._watchdog = None
        if self.lost or not self._waiting:
            return
        deadline = self._waiting[0][2]
        if deadline > self._loop.time():
            self._watchdog = self._loop.call_at(deadline, self._watch)
            return
        timeout = self._timeout
        self.lose(lambda: RedisTimeoutError(f"Redis did not answer within {timeout:g} s"))

    async def _answer(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(encoding="utf-8")
        reason, cause = "Redis closed the connection", None
        try:
            while data := await reader.read(1 << 16):
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    answer, convert, _ = self._waiting.popleft()
                    if answer.done():
                        continue  # its caller was cancelled
                    if isinstance(reply, hiredis.ReplyError):
                        answer.set_exception(error(reply))
                        continue
                    try:
                        answer.set_result(convert(reply))
                    except Exception as exc:
                        answer.set_exception(exc)
        except (OSError, hiredis.ProtocolError) as exc:  # ssl.SSLError too: kept as the cause
            reason, cause = f"Redis connection lost: {exc!r}", exc
        finally:
            self.lose(lambda: _caused_by(ConnectionDropped(reason), cause))

    def lose(self, failure: ErrorFactory) -> None:
        """Closes the socket and fails every command under way with `failure()`. The reader stops
        here too: nothing that still arrives on this socket can answer anything."""
        if self.lost:
            return
        self.lost = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._writer.close()
        if self.reader_task is not asyncio.current_task():
            self.reader_task.cancel()
        self._outbox = []
        while self._waiting:
            answer, _, _ = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(failure())


class RedisLink(Commands):
    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        path: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._address = (host, port, path)
        self._tls, self._timeout = tls, timeout
        #: Sent first on every connection, before any command can be.
        self._handshake: list[Command] = []
        if password is not None:
            self._handshake.append(("AUTH", *([username] if username else []), password))
        if db:
            self._handshake.append(("SELECT", db))
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        ssl_ca_certs: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> RedisLink:
        """The URL as redis-py reads it, its `ssl_ca_certs`, `ssl_certfile` and `ssl_keyfile`
        query parameters included (the arguments, when given, take precedence)."""
        options: dict[str, Any] = dict(parse_url(url))
        tls = None
        if options.get("connection_class") is SSLConnection:
            tls = tls_context(
                ssl_ca_certs or options.get("ssl_ca_certs"),
                ssl_certfile or options.get("ssl_certfile"),
                ssl_keyfile or options.get("ssl_keyfile"),
            )
        return cls(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
            path=options.get("path"),
            tls=tls,
            timeout=timeout,
        )

    # --- sending and answering -------------------------------------------------------------

    async def execute_command(self, *args: Any) -> Any:
        return await self._command(same, *args)

    async def _command(self, convert: Convert, *args: Any) -> Any:
        [answer] = await self._send([(convert, args)])
        return await answer

    async def _send(self, commands: Sequence[tuple[Convert, Command]]) -> list[asyncio.Future[Any]]:
        """Queues the commands together (so a MULTI … EXEC stays together on the connection) and
        returns the future of each answer."""
        connection = self._connection
        if connection is None or connection.lost:
            connection = await self._connect()
        return connection.send(commands)

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._closed:
                raise ConnectionError("the Redis link is closed")
            if self._connection is not None and not self._connection.lost:
                return self._connection  # another command connected meanwhile
            host, port, path = self._address
            try:
                async with asyncio.timeout(self._timeout):
                    if path:
                        reader, writer = await asyncio.open_unix_connection(path)
                    else:
                        reader, writer = await asyncio.open_connection(host, port, ssl=self._tls)
            except TimeoutError:
                raise RedisTimeoutError(
                    f"Redis did not accept the connection within {self._timeout:g} s"
                ) from None
            except OSError as exc:  # refused, unreachable, or TLS refused (ssl.SSLError)
                raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
            if not path:
                keep_alive(writer)
            connection = _Connection(reader, writer, self._timeout)
            try:
                # AUTH and SELECT on every connection, the first as each later one.
                await answered(connection.send([(same, command) for command in self._handshake]))
            except BaseException:
                connection.lose(lambda: ConnectionError("the Redis handshake failed"))
                raise
            if self._closed:  # closed while connecting: leave nothing open behind
                connection.lose(lambda: ConnectionError("the Redis link is closed"))
                raise ConnectionError("the Redis link is closed")
            self._connection = connection
            return connection

    async def aclose(self) -> None:
        self._closed = True
        connection = self._connection
        if connection is not None:
            connection.lose(lambda: ConnectionError("the Redis link is closed"))
            await asyncio.gather(connection.reader_task, return_exceptions=True)

    # --- pipelines and scripts ---------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self, transaction)

    def register_script(self, script: str) -> Script:
        return Script(self, script)


def _caused_by(error: Exception, cause: BaseException | None) -> Exception:
    error.__cause__ = cause
    return error
