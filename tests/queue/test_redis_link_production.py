"""The link as production needs it, on a redis-server of the test's own: a command timeout that
never lets a late reply answer a later command, TCP keepalive, a password sent on every
connection, and TLS with client certificates."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ConnectionError, TimeoutError

from tests.own_redis import OwnRedis, TlsFiles, make_tls_files, own_redis
from vbranch_queue.redis_link import RedisLink

pytestmark = pytest.mark.redis


@pytest.fixture
def debuggable_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    # DEBUG SLEEP: a command Redis itself takes long to answer, on a connection left open.
    with own_redis(tmp_path, "--enable-debug-command", "yes") as redis:
        yield redis


async def _until_answered(link: RedisLink, *command: Any) -> Any:
    """Retries while the stalled Redis comes back (generous: 20 s)."""
    async with asyncio.timeout(20):
        while True:
            try:
                return await link.execute_command(*command)
            except (TimeoutError, ConnectionError):
                await asyncio.sleep(0.1)


async def test_a_late_reply_never_answers_a_later_command(debuggable_redis: OwnRedis) -> None:
    link = RedisLink.from_url(f"redis://127.0.0.1:{debuggable_redis.port}/0", timeout=0.5)
    try:
        values = {f"k{n}": f"value {n}" for n in range(50)}
        for key, value in values.items():
            await link.set(key, value)
        first_id = await link.execute_command("CLIENT", "ID")
        # Redis answers OK after 2 s: the link gave up at 0.5 s, with every command behind it.
        behind = [link.get(key) for key in values]
        results = await asyncio.gather(
            link.execute_command("DEBUG", "SLEEP", "2"), *behind, return_exceptions=True
        )
        assert all(isinstance(result, TimeoutError) for result in results), results
        assert str(results[0]) == "Redis did not answer within 0.5 s"
        # Kept, the old connection's "OK" would now answer the first GET, and shift the rest.
        await _until_answered(link, "PING")
        answers = await asyncio.gather(*(link.get(key) for key in values))
        assert answers == list(values.values())
        assert await link.execute_command("CLIENT", "ID") != first_id  # a new connection
    finally:
        await link.aclose()


async def test_a_stalled_redis_times_out_and_the_link_comes_back_by_itself(
    tmp_path: Path,
) -> None:
    with own_redis(tmp_path) as redis:
        link = RedisLink.from_url(f"redis://127.0.0.1:{redis.port}/0", timeout=0.5)
        try:
            await link.set("before", "1")
            redis.stall()
            burst = await asyncio.wait_for(
                asyncio.gather(*(link.get("before") for _ in range(20)), return_exceptions=True),
                20,
            )
            assert len(burst) == 20 and all(isinstance(r, TimeoutError) for r in burst), burst
            # Connecting anew works (the kernel accepts for the stopped process): still no answer.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(link.get("before"), 20)
            redis.resume()
            assert await _until_answered(link, "GET", "before") == "1"
            assert await link.set("after", "2") is True and await link.get("after") == "2"
        finally:
            await link.aclose()


async def test_the_socket_has_tcp_keepalive(redis_url: str) -> None:
    link = RedisLink.from_url(redis_url)
    try:
        await link.execute_command("PING")
        connection = link._connection
        assert connection is not None
        sock = connection._writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux: probed after 30 s of silence, not 2 hours
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        await link.aclose()


async def test_the_password_and_database_are_sent_on_every_connection(tmp_path: Path) -> None:
    with own_redis(tmp_path, "--requirepass", "s3cret pass") as redis:
        base = f"redis://127.0.0.1:{redis.port}"
        link = RedisLink.from_url(f"redis://:s3cret%20pass@127.0.0.1:{redis.port}/3")
        admin = Redis.from_url(f"{base}/3", password="s3cret pass", decode_responses=True)
        try:
            await link.set("here", "in 3")
            assert await admin.get("here") == "in 3"
            await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            with pytest.raises(ConnectionError):  # the kill is seen by the next command …
                await link.get("here")
            assert await link.get("here") == "in 3"  # … and the one after authenticates again
            for wrong in (f"redis://:wrong@127.0.0.1:{redis.port}/3", f"{base}/3"):
                refused = RedisLink.from_url(wrong)
                with pytest.raises(AuthenticationError):
                    await refused.get("here")
                await refused.aclose()
        finally:
            await admin.aclose()
            await link.aclose()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[OwnRedis, TlsFiles]]:
    files = make_tls_files(tmp_path / "tls")
    with own_redis(tmp_path / "redis", *files.server_options(), tls=True) as redis:
        yield redis, files


async def test_tls_with_a_client_certificate(tls_redis: tuple[OwnRedis, TlsFiles]) -> None:
    redis, files = tls_redis
    url = f"rediss://127.0.0.1:{redis.port}/0"
    tls = {
        "ssl_ca_certs": str(files.ca),
        "ssl_certfile": str(files.client_cert),
        "ssl_keyfile": str(files.client_key),
    }
    query = "&".join(f"{name}={value}" for name, value in tls.items())
    # As arguments, or as redis-py's URL parameters: the link and redis-py read both alike.
    for link, plain in (
        (RedisLink.from_url(url, **tls), Redis.from_url(url, decode_responses=True, **tls)),
        (RedisLink.from_url(f"{url}?{query}"), Redis.from_url(f"{url}?{query}")),
    ):
        try:
            await link.set("secret", "over tls")
            assert await plain.get("secret") in ("over tls", b"over tls")
        finally:
            await link.aclose()
            await plain.aclose()
    # Without the client certificate Redis refuses; without the CA the link refuses Redis.
    for partial in ({"ssl_ca_certs": str(files.ca)}, {}):
        link = RedisLink.from_url(url, **partial)
        with pytest.raises(ConnectionError):
            await link.get("secret")
        await link.aclose()
