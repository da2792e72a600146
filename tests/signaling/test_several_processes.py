"""Two server processes, one Redis, one PostgreSQL: a customer on one, agents on the other.

A call, a transfer to a sign-language agent and a reconnection to the *other* process all work,
because every shared state lives in Redis and Socket.IO emits cross processes through it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from redis import Redis

from vbranch_server.auth.sessions import SESSION_COOKIE

from .conftest import PASSWORDS, Peer

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

VBRANCH = str(Path(sys.executable).parent / "vbranch")
JOIN = {"category": "pensions", "language": "ar", "sign_language": False, "display_name": "Huda"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server on {port} exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"server on {port} did not become healthy")


@pytest.fixture
def two_servers(new_postgres_database, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    prefix = f"vbt-{uuid.uuid4().hex[:8]}:"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VBRANCH_")},
        "DATABASE_URL": new_postgres_database(),
        "REDIS_URL": redis_url,
        "VBRANCH_REDIS_PREFIX": prefix,
        "VBRANCH_SECRET_KEY": "shared-secret-" + "k" * 32,
        "VBRANCH_DATA_DIR": str(tmp_path),
        "VBRANCH_LOG_LEVEL": "WARNING",
        # Plain HTTP, as in development: the bare `vb_session` cookie.
        "VBRANCH_SECURE_COOKIES": "false",
    }
    # The servers run on the real clock: the demo services must be open whatever the hour.
    for command in (["db", "upgrade"], ["demo", "--always-open"]):
        done = subprocess.run(
            [VBRANCH, *command], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(
            [VBRANCH, "serve", "--port", str(port)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        for process, port in zip(processes, ports, strict=True):
            _wait_healthy(process, port)
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()
        client = Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def _agent(base: str, username: str) -> Peer:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/api/login", json={"username": username, "password": PASSWORDS[username]}
        ) as r:
            assert r.status == 200
            cookie = r.cookies[SESSION_COOKIE].value
    peer = Peer("/agent")
    await peer.connect(base, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    return peer


async def _visit(base: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/visits", json={"language": "ar"}) as r:
            assert r.status == 201
            return await r.json()


async def test_call_transfer_and_reconnection_across_two_processes(two_servers) -> None:  # type: ignore[no-untyped-def]
    first, second = two_servers
    peers: list[Peer] = []
    try:
        agent = await _agent(second, "agent.ar")
        peers.append(agent)
        assert (await agent.call("set_availability", {"state": "available"}))["ok"]
        visit = await _visit(first)
        customer = Peer("/customer")
        peers.append(customer)
        await customer.connect(first, auth={"token": visit["token"]})
        assert (await customer.call("join", JOIN))["ok"]

        offer = await agent.next("offer")  # decided on the first process, delivered by the second
        answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
        assert answer["ok"], answer
        call_id = answer["call_id"]
        assert (await customer.next("connected"))["call_id"] == call_id
        sdp = {"type": "offer", "sdp": "v=0\r\n"}
        assert (await agent.call("signal", {"call_id": call_id, "description": sdp}))["ok"]
        assert (await customer.next("signal"))["description"] == sdp
        assert (await customer.call("media_connected", {"call_id": call_id}))["ok"]

        # Transfer to sign language: only agent.sign (on the first process) may take it.
        signer = await _agent(first, "agent.sign")
        peers.append(signer)
        assert (await signer.call("set_availability", {"state": "available"}))["ok"]
        moved = await agent.call(
            "transfer", {"call_id": call_id, "sign_language": True, "note": "Signs"}
        )
        assert moved["ok"], moved
        assert (await customer.next("requeued"))["reason"] == "transfer"
        offer2 = await signer.next("offer")
        assert offer2["customer"]["sign_language"] and offer2["customer"]["handoff_note"] == "Signs"
        answer2 = await signer.call("accept", {"offer_id": offer2["offer_id"]})
        assert answer2["ticket_reference"] == answer["ticket_reference"]
        call2 = answer2["call_id"]
        await customer.next("connected")
        assert (await agent.call("finish_wrap_up", {"call_id": call_id}))["ok"]

        # The customer's connection drops; they come back through the *other* process.
        await customer.close()
        back = Peer("/customer")
        peers.append(back)
        await back.connect(second, auth={"token": visit["token"]})
        resumed = await back.next("connected")
        assert resumed["call_id"] == call2 and resumed["resumed"]
        assert (await back.call("chat", {"call_id": call2, "text": "أنا هنا"}))["ok"]
        assert (await signer.next("chat"))["text"] == "أنا هنا"
        assert (await signer.call("hang_up", {"call_id": call2}))["ok"]
        ended = await back.next("call_ended")
        assert ended["ticket_reference"] == answer["ticket_reference"]
    finally:
        for peer in peers:
            if peer.sio.connected:
                await peer.close()
