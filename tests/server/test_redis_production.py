"""The application on a Redis as production runs it, a redis-server of the test's own: stalled
(SIGSTOP) and resumed (SIGCONT) under a running app; TLS with client certificates and a
password; a wrong password or CA stops `vbranch serve` with one line."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from tests.conftest import CHEAP_ARGON2, FakeClock, seed_demo_data
from tests.own_redis import OwnRedis, TlsFiles, free_port, make_tls_files, own_redis
from tests.signaling.conftest import PENSIONS_AR, ROUTING, Peer, staff_cookie, visit_token
from vbranch_server.app import create_app
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.redis_clients import check_redis, redis_client, redis_link
from vbranch_server.settings import ConfigError, Settings

pytestmark = pytest.mark.redis

VBRANCH = str(Path(sys.executable).parent / "vbranch")


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    clock.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # a Sunday: the demo services are open
    return clock


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "vbranch.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def _settings(sqlite_url: str, tmp_path: Path, redis_url: str, **redis: object) -> Settings:
    return Settings(
        database_url=sqlite_url,
        redis_url=redis_url,
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path / "data",
        redis_prefix=f"vbt-{uuid.uuid4().hex[:8]}:",
        secure_cookies=False,  # plain HTTP: the bare session cookie name
        **redis,  # type: ignore[arg-type]
    )


async def _serve(aiohttp_server, settings: Settings, clock: FakeClock) -> TestServer:  # type: ignore[no-untyped-def]
    await seed_demo_data(settings.database_url, clock(), CHEAP_ARGON2.hash)
    return await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        if peer.sio.connected:
            await peer.close()


async def _agent(server: TestServer, peers: list[Peer]) -> Peer:
    agent = Peer("/agent")
    peers.append(agent)
    cookie = await staff_cookie(server, "agent.ar")
    await agent.connect(str(server.make_url("/")), headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    return agent


async def _call(server: TestServer, agent: Peer, peers: list[Peer]) -> None:
    """A routing decision end to end: available agent, a customer joins, offer, accept."""
    assert (await agent.call("set_availability", {"state": "available"}))["ok"]
    customer = Peer("/customer")
    peers.append(customer)
    visit = await visit_token(server)
    await customer.connect(str(server.make_url("/")), auth={"token": visit["token"]})
    assert (await customer.call("join", PENSIONS_AR))["ok"]
    offer = await agent.next("offer")  # published through Redis to the agent's socket
    assert (await agent.call("accept", {"offer_id": offer["offer_id"]}))["ok"]
    await customer.next("connected")


@pytest.fixture
def stoppable_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    # A fixture, so the app (set up after it) closes before this Redis goes.
    with own_redis(tmp_path / "redis") as redis:
        yield redis


async def test_a_stalled_redis_is_a_clear_error_and_the_app_recovers_by_itself(
    stoppable_redis: OwnRedis,  # first: it goes after the app is closed
    aiohttp_server,  # type: ignore[no-untyped-def]
    sqlite_url: str,
    tmp_path: Path,
    clock: FakeClock,
    peers: list[Peer],
) -> None:
    url = f"redis://127.0.0.1:{stoppable_redis.port}/0"
    settings = _settings(sqlite_url, tmp_path, url, redis_timeout_seconds=1.0)
    server = await _serve(aiohttp_server, settings, clock)
    agent = await _agent(server, peers)
    assert (await agent.call("set_availability", {"state": "available"}))["ok"]

    visit = await visit_token(server)

    stoppable_redis.stall()
    refused = await agent.call("set_availability", {"state": "away"})
    assert refused["ok"] is False and refused["error"]["code"] == "service_unavailable"
    late, why = Peer("/customer"), asyncio.get_running_loop().create_future()
    late.sio.on("connect_error", why.set_result, namespace="/customer")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(str(server.make_url("/")), auth={"token": visit["token"]})
    assert (await asyncio.wait_for(why, 10))[
        "message"
    ] == "the service is briefly unavailable: try again"
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/api/visits"), json={"language": "ar"}) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "service_unavailable"
        async with http.get(server.make_url("/healthz")) as response:
            assert response.status == 503 and (await response.json())["redis"] == "down"

        stoppable_redis.resume()
        async with asyncio.timeout(30):  # generous: the process reconnects on its own
            while True:
                async with http.get(server.make_url("/healthz")) as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.2)
    await _call(server, agent, peers)  # the same process, the same sockets: all works again


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[OwnRedis, TlsFiles]]:
    files = make_tls_files(tmp_path / "tls")
    options = [*files.server_options(), "--requirepass", "tls and a password"]
    with own_redis(tmp_path / "redis", *options, tls=True) as redis:
        yield redis, files


async def test_the_app_over_tls_with_client_certificates_and_a_password(
    tls_redis: tuple[OwnRedis, TlsFiles],  # first: it goes after the app is closed
    aiohttp_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    sqlite_url: str,
    clock: FakeClock,
    peers: list[Peer],
) -> None:
    redis, files = tls_redis
    url = f"rediss://:tls%20and%20a%20password@127.0.0.1:{redis.port}/0"
    settings = _settings(
        sqlite_url,
        tmp_path,
        url,
        redis_ca_file=files.ca,
        redis_cert_file=files.client_cert,
        redis_key_file=files.client_key,
    )
    server = await _serve(aiohttp_server, settings, clock)
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/healthz")) as response:
            assert response.status == 200 and (await response.json())["redis"] == "ok"
    # Login and visit limits (redis-py), queue and registry (the link), Socket.IO's publishing
    # (the link) and subscriptions (redis-py): every client went over TLS with the password.
    await _call(server, await _agent(server, peers), peers)


def _serve_once(
    tmp_path: Path, sqlite_template: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(sqlite_template, data / "vbranch.db")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VBRANCH_")}
    clean.update(
        {"VBRANCH_DATA_DIR": str(data), "VBRANCH_LISTEN": f"127.0.0.1:{free_port()}", **env}
    )
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [VBRANCH, "serve"], env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def test_serve_stops_in_one_line_on_a_wrong_password_or_certificate(
    tmp_path: Path, sqlite_template: Path
) -> None:
    files = make_tls_files(tmp_path / "tls")
    other_ca = make_tls_files(tmp_path / "other").ca
    with own_redis(tmp_path / "plain", "--requirepass", "right") as plain:
        done = _serve_once(
            tmp_path, sqlite_template, REDIS_URL=f"redis://:wrong@127.0.0.1:{plain.port}/0"
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("vbranch: error: REDIS_URL: Redis refused the connection: ")
    assert done.stderr.count("\n") == 1, done.stderr  # one line, nothing else
    with own_redis(tmp_path / "tls-redis", *files.server_options(), tls=True) as tls:
        done = _serve_once(
            tmp_path,
            sqlite_template,
            REDIS_URL=f"rediss://127.0.0.1:{tls.port}/0",
            VBRANCH_REDIS_CA_FILE=str(other_ca),
            VBRANCH_REDIS_CERT_FILE=str(files.client_cert),
            VBRANCH_REDIS_KEY_FILE=str(files.client_key),
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("vbranch: error: REDIS_URL: the TLS handshake with Redis failed")
    assert done.stderr.count("\n") == 1, done.stderr


async def test_start_up_names_a_refused_password_or_certificate_and_waits_for_an_absent_redis(
    tmp_path: Path,
) -> None:
    files = make_tls_files(tmp_path / "tls")
    base = Settings(
        database_url="sqlite+aiosqlite://",
        redis_url=None,
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path / "data",
    )
    options = [*files.server_options(), "--requirepass", "right"]
    with own_redis(tmp_path / "redis", *options, tls=True) as redis:
        good = replace(
            base,
            redis_url=f"rediss://:right@127.0.0.1:{redis.port}/0",
            redis_ca_file=files.ca,
            redis_cert_file=files.client_cert,
            redis_key_file=files.client_key,
        )
        await check_redis(good)
        refused = {
            "Redis refused the connection: invalid username-password pair": replace(
                good, redis_url=f"rediss://:wrong@127.0.0.1:{redis.port}/0"
            ),
            # The alert, or a reset that beat it (both seen): either way the TLS handshake.
            "the TLS handshake with Redis failed (": replace(
                good, redis_cert_file=None, redis_key_file=None
            ),
            "TLS handshake with Redis failed (CERTIFICATE_VERIFY_FAILED)": replace(
                good, redis_ca_file=make_tls_files(tmp_path / "other").ca
            ),
        }
        for message, settings in refused.items():
            with pytest.raises(ConfigError, match=re.escape(message)):
                await check_redis(settings)
    # Nobody listens: not a configuration error; the process serves and connects later.
    await check_redis(replace(base, redis_url=f"redis://127.0.0.1:{free_port()}/0"))


async def test_every_client_works_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    with own_redis(tmp_path / "redis", "--unixsocket", str(path)):
        settings = Settings(
            database_url="sqlite+aiosqlite://",
            redis_url=f"unix://{path}?db=2",
            secret_key="test-secret-key-" + "x" * 32,
            data_dir=tmp_path / "data",
        )
        await check_redis(settings)  # pings through the link and through redis-py
        link, client = redis_link(settings), redis_client(settings)
        try:
            await link.set("over the socket", "yes")
            assert await client.get("over the socket") == b"yes"
        finally:
            await link.aclose()
            await client.aclose()
