"""The abuse caps over real Socket.IO clients: places in line per address, sockets per visit token
and token buckets for chat and signals, in one process and in two processes on the real Redis.

Every burst is fired at once (asyncio.gather); every assertion counts, none times. The app's clock
is the tests' fake clock, which moves only when a test moves it, so the buckets refill exactly as
much as the test says.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from vbranch_server.app import create_app
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.i18n import Catalogs
from vbranch_server.realtime.wiring import HUB, SIO
from vbranch_server.settings import Settings

from .conftest import ROUTING, Peer, staff_cookie

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PENSIONS = {"category": "pensions", "language": "ar", "sign_language": False}
TEXTS = Catalogs.load()


def text(language: str, code: str) -> str:
    return TEXTS.gettext(language, f"error.{code}")


@pytest.fixture
def capped(settings: Settings) -> Settings:
    # The test client's X-Forwarded-For is believed, so each test picks the addresses it needs.
    return replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))


async def visit_from(server: TestServer, address: str, language: str = "ar") -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.make_url("/api/visits"),
            json={"language": language},
            headers={"X-Forwarded-For": address},
        ) as answer:
            assert answer.status == 201, await answer.text()
            return await answer.json()


async def _all_closed(servers: list[TestServer]) -> None:
    """Waits until the servers have seen every socket go: a server closed while sockets are
    still closing waits a long time for them."""
    for _ in range(500):
        if not any(server.app[SIO].eio.sockets for server in servers):
            return
        await asyncio.sleep(0.02)


@pytest.fixture
async def connect_to() -> AsyncIterator[Callable[..., Awaitable[Peer]]]:
    """`connect_to(server, visit)` connects a customer, `connect_to(server, staff="agent.ar")`
    an agent. All are closed at the end."""
    made: list[Peer] = []
    servers: list[TestServer] = []

    async def connect(
        server: TestServer, visit: dict[str, Any] | None = None, staff: str | None = None
    ) -> Peer:
        servers.append(server)
        if staff is not None:
            peer = Peer("/agent")
            cookie = await staff_cookie(server, staff)
            headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            await peer.connect(str(server.make_url("/")), headers=headers)
        else:
            assert visit is not None
            peer = Peer("/customer")
            await peer.connect(str(server.make_url("/")), auth={"token": visit["token"]})
        made.append(peer)
        return peer

    yield connect
    for peer in made:
        if peer.sio.connected:
            await peer.close()
    await _all_closed(servers)


def codes(answers: list[dict[str, Any]]) -> list[str]:
    return sorted("ok" if a["ok"] else a["error"]["code"] for a in answers)


# --- places in line per address ----------------------------------------------------------------


async def _joins_at_once(peers: list[Peer]) -> list[dict[str, Any]]:
    return await asyncio.gather(*(peer.call("join", PENSIONS) for peer in peers))


async def test_twenty_visits_from_one_address_get_three_places_in_line(  # type: ignore[no-untyped-def]
    aiohttp_server, capped, clock, demo_data, connect_to
) -> None:
    server = await aiohttp_server(create_app(capped, clock=clock, routing=ROUTING))
    # Twenty addresses of one IPv6 /64 (one home): they count as one address.
    visits = [await visit_from(server, f"2001:db8:1:2::{n:x}") for n in range(1, 21)]
    peers = [await connect_to(server, visit) for visit in visits]
    answers = await _joins_at_once(peers)
    assert codes(answers) == ["ok"] * 3 + ["too_many_open_visits"] * 17
    refused = next(a for a in answers if not a["ok"])
    assert refused["error"]["message"] == text("ar", "too_many_open_visits")  # the visit's language
    waiting = [peer for peer, answer in zip(peers, answers, strict=True) if answer["ok"]]
    turned_away = [peer for peer, answer in zip(peers, answers, strict=True) if not answer["ok"]]

    # The next /64 is another home: not held back.
    neighbour = await connect_to(server, await visit_from(server, "2001:db8:1:3::1", "en"))
    assert (await neighbour.call("join", PENSIONS))["ok"]
    assert (await neighbour.call("leave", {}))["ok"]  # so that the agent below serves the /64

    # One leaves the line: exactly one more from that address may join.
    assert (await waiting[0].call("leave", {}))["ok"]
    assert codes(await _joins_at_once(turned_away[:5])) == ["ok"] + ["too_many_open_visits"] * 4
    # One is served (an agent accepts the call): out of the line, so another place frees.
    agent = await connect_to(server, staff="agent.ar")
    await agent.call("set_availability", {"state": "available"})
    offer = await agent.next("offer")
    assert (await agent.call("accept", {"offer_id": offer["offer_id"]}))["ok"]
    assert codes(await _joins_at_once(turned_away[5:10])) == ["ok"] + ["too_many_open_visits"] * 4


async def test_an_ipv4_peer_seen_through_ipv6_counts_as_its_ipv4_address(  # type: ignore[no-untyped-def]
    aiohttp_server, capped, clock, demo_data, connect_to
) -> None:
    server = await aiohttp_server(create_app(capped, clock=clock, routing=ROUTING))
    addresses = ["203.0.113.9", "::ffff:203.0.113.9", "203.0.113.9", "::ffff:203.0.113.9"]
    peers = [await connect_to(server, await visit_from(server, a, "en")) for a in addresses]
    answers = [await peer.call("join", PENSIONS) for peer in peers]
    assert [a["ok"] for a in answers] == [True, True, True, False]
    assert answers[3]["error"] == {
        "code": "too_many_open_visits",
        "message": text("en", "too_many_open_visits"),
    }


async def test_a_customer_whose_grace_ran_out_gives_the_place_back(  # type: ignore[no-untyped-def]
    aiohttp_server, capped, clock, demo_data, connect_to
) -> None:
    app = create_app(replace(capped, open_visits_per_address=1), clock=clock, routing=ROUTING)
    server = await aiohttp_server(app)
    first_visit = await visit_from(server, "198.51.100.4")
    first = await connect_to(server, first_visit)
    second = await connect_to(server, await visit_from(server, "198.51.100.4"))
    assert (await first.call("join", PENSIONS))["ok"]
    assert not (await second.call("join", PENSIONS))["ok"]
    await first.close()  # gone without `leave`: the grace period starts
    hub = app[HUB]
    for _ in range(200):  # the disconnect is handled on the server's side
        if await hub.registry.open_sockets(f"customer:{first_visit['visit_id']}") == 0:
            break
        await asyncio.sleep(0.02)
    clock.now += timedelta(seconds=31)
    await hub.tick()  # the grace period ran out: abandoned, out of the line
    assert (await second.call("join", PENSIONS))["ok"]


# --- sockets per visit token -------------------------------------------------------------------


class RawCustomer:
    """A /customer socket that keeps its refusal (Peer's connect only raises)."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.refusal: Any = None

        @self.sio.on("connect_error", namespace="/customer")
        async def refused(data: Any = None) -> None:
            self.refusal = data

    async def connect(self, base: str, token: str) -> bool:
        try:
            await self.sio.connect(
                base,
                namespaces=["/customer"],
                transports=["websocket"],
                auth={"token": token},
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError:
            return False
        return True


async def _connect_at_once(bases: list[str], token: str) -> list[RawCustomer]:
    sockets = [RawCustomer() for _ in range(20)]
    results = await asyncio.gather(
        *(s.connect(bases[n % len(bases)], token) for n, s in enumerate(sockets))
    )
    assert [s.sio.connected for s in sockets] == results
    return sockets


async def _close_all(sockets: list[RawCustomer], servers: list[TestServer]) -> None:
    for s in sockets:
        if s.sio.connected:
            await s.sio.disconnect()
        else:
            await s.sio.shutdown()
    await _all_closed(servers)


async def test_twenty_sockets_on_one_visit_token_get_three(  # type: ignore[no-untyped-def]
    aiohttp_server, capped, clock, demo_data
) -> None:
    server = await aiohttp_server(create_app(capped, clock=clock, routing=ROUTING))
    visit = await visit_from(server, "198.51.100.7", "en")
    sockets = await _connect_at_once([str(server.make_url("/"))], visit["token"])
    try:
        connected = [s for s in sockets if s.sio.connected]
        assert len(connected) == 3
        refusal = next(s.refusal for s in sockets if not s.sio.connected)
        assert refusal == {
            "message": text("en", "too_many_sockets"),
            "data": {"code": "too_many_sockets"},
        }
        # One closes: one more may open, and only one.
        await connected[0].sio.disconnect()
        again = await _connect_at_once([str(server.make_url("/"))], visit["token"])
        sockets += again
        assert sum(s.sio.connected for s in again) == 1
    finally:
        await _close_all(sockets, [server])


# --- the same two caps across two processes on the real Redis ----------------------------------


@pytest.fixture
async def two_servers(  # type: ignore[no-untyped-def]
    aiohttp_server, capped, clock, demo_data, redis_url: str
) -> AsyncIterator[list[TestServer]]:
    shared = replace(capped, redis_url=redis_url, redis_prefix=f"vbt-caps-{uuid.uuid4().hex[:8]}:")
    servers = [
        await aiohttp_server(create_app(shared, clock=clock, routing=ROUTING)) for _ in range(2)
    ]
    yield servers
    cleanup = Redis.from_url(redis_url)
    keys = [key async for key in cleanup.scan_iter(match=f"{shared.redis_prefix}*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()


@pytest.mark.redis
async def test_three_places_per_address_across_two_processes(two_servers, connect_to) -> None:  # type: ignore[no-untyped-def]
    visits = [await visit_from(two_servers[n % 2], "192.0.2.44") for n in range(20)]
    peers = [await connect_to(two_servers[n % 2], v) for n, v in enumerate(visits)]
    answers = await _joins_at_once(peers)
    assert codes(answers) == ["ok"] * 3 + ["too_many_open_visits"] * 17
    left = next(p for p, a in zip(peers, answers, strict=True) if a["ok"])
    assert (await left.call("leave", {}))["ok"]
    turned_away = [p for p, a in zip(peers, answers, strict=True) if not a["ok"]]
    assert codes(await _joins_at_once(turned_away)) == ["ok"] + ["too_many_open_visits"] * 16


@pytest.mark.redis
async def test_three_sockets_per_visit_token_across_two_processes(two_servers) -> None:  # type: ignore[no-untyped-def]
    visit = await visit_from(two_servers[0], "192.0.2.45")
    bases = [str(s.make_url("/")) for s in two_servers]
    sockets = await _connect_at_once(bases, visit["token"])
    try:
        assert sum(s.sio.connected for s in sockets) == 3
        assert {s.refusal["data"]["code"] for s in sockets if not s.sio.connected} == {
            "too_many_sockets"
        }
    finally:
        await _close_all(sockets, two_servers)


# --- token buckets for chat and signals --------------------------------------------------------


async def _until_received(peer: Peer, event: str, marker: Callable[[Any], bool]) -> int:
    """Events of this kind received up to and including the marker (sent last, so every event
    relayed before it has arrived), without the marker."""
    received = 0
    while True:
        message = await peer.next(event)
        if marker(message):
            return received
        received += 1


async def test_a_burst_of_500_chats_delivers_only_what_the_bucket_allows(  # type: ignore[no-untyped-def]
    start_call, clock, settings
) -> None:
    call = await start_call()
    chat = {"call_id": call.call_id, "text": "x" * 2000}
    answers = await asyncio.gather(*(call.customer.call("chat", chat) for _ in range(500)))
    burst, rate = settings.chat_burst, settings.chat_per_second
    assert codes(answers).count("ok") == burst  # the clock stood still: the burst, no more
    refused = [a for a in answers if not a["ok"]]
    assert {a["error"]["code"] for a in refused} == {"rate_limited"}
    assert refused[0]["error"]["message"] == text("ar", "rate_limited")
    # Five seconds later the bucket has refilled by rate × 5.
    clock.now += timedelta(seconds=5)
    later = await asyncio.gather(*(call.customer.call("chat", chat) for _ in range(100)))
    assert codes(later).count("ok") == int(rate * 5)
    clock.now += timedelta(seconds=1)
    assert (await call.customer.call("chat", {**chat, "text": "the end"}))["ok"]
    received = await _until_received(call.agent, "chat", lambda m: m["text"] == "the end")
    elapsed = 6.0
    assert received == burst + int(rate * 5)
    assert received + 1 <= burst + rate * elapsed
    # The agent's own bucket is another one: not emptied by the customer.
    assert (await call.agent.call("chat", chat))["ok"]


async def test_a_burst_of_signals_is_cut_at_the_bucket(start_call, clock, settings) -> None:  # type: ignore[no-untyped-def]
    call = await start_call()
    candidate = {
        "call_id": call.call_id,
        "candidate": {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host", "sdpMid": "0"},
    }
    answers = await asyncio.gather(*(call.agent.call("signal", candidate) for _ in range(500)))
    assert codes(answers).count("ok") == settings.signal_burst
    assert {a["error"]["code"] for a in answers if not a["ok"]} == {"rate_limited"}
    clock.now += timedelta(seconds=1)
    end = {"call_id": call.call_id, "candidate": None}
    assert (await call.agent.call("signal", end))["ok"]
    received = await _until_received(call.customer, "signal", lambda m: m["candidate"] is None)
    assert received == settings.signal_burst
