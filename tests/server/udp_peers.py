"""UDP peers for the connection check's tests: a STUN server that answers, a port that counts."""

from __future__ import annotations

import asyncio

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
