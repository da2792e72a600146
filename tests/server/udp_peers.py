"""UDP peers for the connection check's tests: a STUN server that answers, a port that counts,
and a real coturn."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioice import stun


class StunResponder(asyncio.DatagramProtocol):
    """A real STUN server's answer to a Binding request: the sender's own address."""

    def __init__(self) -> None:
        self.requests: list[stun.Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = stun.parse_message(data)
        self.requests.append(message)
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=message.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


class Counter(asyncio.DatagramProtocol):
    """Counts what arrives at a UDP port, and answers nothing."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append(data)


async def listen(protocol: asyncio.DatagramProtocol) -> tuple[asyncio.DatagramTransport, int]:
    """`protocol` on a UDP port of 127.0.0.1: its transport (close it) and the port."""
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    port: int = transport.get_extra_info("sockname")[1]
    return transport, port


def _free_udp_port() -> int:
    """A port free for UDP (coturn serves on it) and TCP (coturn would not start otherwise)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_probe:
            udp_probe.bind(("127.0.0.1", 0))
            port: int = udp_probe.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp_probe:
                try:
                    tcp_probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


async def _answers_stun(port: int) -> None:
    """Ready when it answers a Binding request (its log says "ready" before it listens)."""
    loop = asyncio.get_running_loop()
    answered = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not answered.done():
                answered.set_result(stun.parse_message(data))

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    try:
        async with asyncio.timeout(20):
            while not answered.done():
                request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
                transport.sendto(bytes(request), ("127.0.0.1", port))
                await asyncio.wait([answered], timeout=0.2)
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def running_coturn(folder: Path, secret: str) -> AsyncIterator[int]:
    """coturn with `use-auth-secret` on a UDP port of 127.0.0.1 (yielded), relaying on 127.0.0.1."""
    if not shutil.which("turnserver"):
        from tests.conftest import service_missing

        service_missing("coturn", "turnserver is not installed (apt-get install coturn)")
    port, log = _free_udp_port(), folder / "coturn.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp", "--log-file=stdout",
            "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
            "--use-auth-secret", f"--static-auth-secret={secret}", "--realm=vbranch.test",
            "--min-port=49152", "--max-port=65535", f"--userdb={folder / 'turndb'}",
            f"--pidfile={folder / 'turn.pid'}", "--allow-loopback-peers",
            stdout=output, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        try:
            await _answers_stun(port)
        except TimeoutError:
            pytest.fail(f"coturn did not answer on port {port}:\n{log.read_text()[-3000:]}")
        yield port
    finally:
        process.terminate()
        await process.wait()
