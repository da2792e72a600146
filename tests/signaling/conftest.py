"""Real Socket.IO clients against a real aiohttp server (SQLite and PostgreSQL CRMs)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestServer

from vbranch_queue.core.model import RoutingConfig
from vbranch_server.app import create_app
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.crm.demo import DEMO_LOGINS

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
ROUTING = RoutingConfig(offer_timeout=20, wrap_up_seconds=30, max_missed_offers=3)


class Peer:
    """One Socket.IO connection that records every event it receives, per event name."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)

        @self.sio.on("*", namespace=namespace)
        async def record(event: str, data: Any = None) -> None:
            await self.events[event].put(data)

    async def connect(self, url: str, **kwargs: Any) -> None:
        await self.sio.connect(
            url, namespaces=[self.namespace], transports=["websocket"], wait_timeout=10, **kwargs
        )

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=10)

    async def next(self, event: str, within: float = 10) -> Any:
        return await asyncio.wait_for(self.events[event].get(), within)

    def pending(self, event: str) -> int:
        return self.events[event].qsize()

    async def close(self) -> None:
        await self.sio.disconnect()


@pytest.fixture
def clock(clock):  # type: ignore[no-untyped-def]
    """Sunday 2026-11-22 11:00 in Riyadh, 11:30 in Tehran: every demo service is open, and a
    customer may only join a line during its service's hours."""
    clock.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    return clock


@pytest.fixture
async def server(aiohttp_server, settings, clock, demo_data) -> TestServer:  # type: ignore[no-untyped-def]
    return await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        if peer.sio.connected:
            await peer.close()


async def staff_cookie(server: TestServer, username: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.make_url("/api/login"),
            json={"username": username, "password": PASSWORDS[username]},
        ) as response:
            assert response.status == 200, await response.text()
            return response.cookies[SESSION_COOKIE].value


async def visit_token(server: TestServer, language: str = "ar") -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/api/visits"), json={"language": language}) as r:
            assert r.status == 201
            return await r.json()


@pytest.fixture
def connect_agent(server: TestServer, peers: list[Peer]) -> Callable[[str], Awaitable[Peer]]:
    async def connect(username: str) -> Peer:
        peer = Peer("/agent")
        peers.append(peer)
        cookie = await staff_cookie(server, username)
        await peer.connect(
            str(server.make_url("/")), headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        )
        return peer

    return connect


@pytest.fixture
def connect_customer(server: TestServer, peers: list[Peer]) -> Callable[..., Awaitable[Peer]]:
    async def connect(language: str = "ar") -> Peer:
        peer = Peer("/customer")
        peers.append(peer)
        visit = await visit_token(server, language)
        await peer.connect(str(server.make_url("/")), auth={"token": visit["token"]})
        peer.visit_id = visit["visit_id"]  # type: ignore[attr-defined]
        return peer

    return connect


@dataclass
class CallInProgress:
    agent: Peer
    customer: Peer
    offer: dict[str, Any]
    answer: dict[str, Any]

    @property
    def call_id(self) -> str:
        return str(self.answer["call_id"])


PENSIONS_AR = {"category": "pensions", "language": "ar", "sign_language": False}


@pytest.fixture
def start_call(connect_agent, connect_customer) -> Callable[..., Awaitable[CallInProgress]]:  # type: ignore[no-untyped-def]
    """An agent available, a customer in line, the offer accepted and the customer connected."""

    async def start(
        agent_username: str = "agent.ar", join: dict[str, Any] | None = None
    ) -> CallInProgress:
        agent = await connect_agent(agent_username)
        await agent.call("set_availability", {"state": "available"})
        customer = await connect_customer()
        await customer.call("join", join or PENSIONS_AR)
        offer = await agent.next("offer")
        answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
        await customer.next("connected")
        return CallInProgress(agent, customer, offer, answer)

    return start
