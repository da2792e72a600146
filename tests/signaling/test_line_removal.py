"""A supervisor takes a waiting customer out of the line: on the memory store and the real Redis.

The customer hears why, the agent holding their offer hears it is withdrawn, the queue counts it as
abandoned (never as answered), the audit log names who did it and when; a customer already in a
call (or gone) is refused and left alone.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from redis import Redis

from vbranch_server.app import create_app
from vbranch_server.realtime.wiring import HUB
from vbranch_server.settings import Settings

from .conftest import ROUTING, Peer, staff_cookie, visit_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JOIN = {"category": "pensions", "language": "ar", "display_name": "Huda"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_settings(request, settings) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """The settings of a server on the in-memory routing store, or on the real Redis."""
    if request.param == "memory":
        yield settings
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = f"vbt-remove-{uuid.uuid4().hex[:8]}:"
    yield dataclasses.replace(settings, redis_url=redis_url, redis_prefix=prefix)
    cleanup = Redis.from_url(redis_url)
    keys = list(cleanup.scan_iter(match=f"{prefix}*"))
    if keys:
        cleanup.delete(*keys)
    cleanup.close()


@pytest.fixture
async def server(aiohttp_server, store_settings, clock, demo_data) -> TestServer:  # type: ignore[no-untyped-def]
    return await aiohttp_server(create_app(store_settings, clock=clock, routing=ROUTING))


async def _connect(server: TestServer, peers: list[Peer], namespace: str, **kwargs: Any) -> Peer:
    peer = Peer(namespace)
    peers.append(peer)
    await peer.connect(str(server.make_url("/")), **kwargs)
    return peer


async def _staff(server: TestServer, peers: list[Peer], namespace: str, username: str) -> Peer:
    cookie = await staff_cookie(server, username)
    return await _connect(server, peers, namespace, headers={"Cookie": f"vb_session={cookie}"})


async def _customer(server: TestServer, peers: list[Peer]) -> tuple[Peer, str]:
    visit = await visit_token(server)
    customer = await _connect(server, peers, "/customer", auth={"token": visit["token"]})
    assert (await customer.call("join", JOIN))["ok"]
    return customer, visit["visit_id"]


async def _audit(server: TestServer) -> list[dict[str, Any]]:
    cookie = await staff_cookie(server, "supervisor")
    async with aiohttp.ClientSession(cookies={"vb_session": cookie}) as http:
        async with http.get(server.make_url("/api/supervisor/audit")) as response:
            assert response.status == 200
            return list((await response.json())["actions"])


def _pensions(stats: dict[str, Any]) -> dict[str, Any]:
    [queue] = [q for q in stats["queues"] if q["category"] == "pensions"]
    return queue


async def test_a_waiting_customer_is_removed_told_counted_and_audited(server, peers, clock) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _staff(server, peers, "/supervisor", "supervisor")
    customer, visit_id = await _customer(server, peers)
    clock.advance(seconds=5)  # one after the other: the line's order is theirs
    other, other_id = await _customer(server, peers)

    assert await supervisor.call("remove_from_line", {"customer_id": visit_id}) == {"ok": True}
    assert await customer.next("removed_from_line") == {"reason": "removed_by_staff"}

    stats = await server.app[HUB].supervisor_stats()
    assert [w["customer_id"] for w in stats["waiting"]] == [other_id]
    queue = _pensions(stats)
    assert (queue["waiting"], queue["abandoned"], queue["answered"]) == (1, 1, 0)
    # The one behind moved up, and was told so.
    assert (await other.next("queue_position"))["position"] == 1

    # Gone already: refused, and nothing more is audited or counted.
    again = await supervisor.call("remove_from_line", {"customer_id": visit_id})
    assert again["error"]["code"] == "not_waiting"
    assert _pensions(await server.app[HUB].supervisor_stats())["abandoned"] == 1

    [entry] = await _audit(server)
    assert (entry["action"], entry["target"], entry["details"]) == (
        "remove_from_line",
        visit_id,
        {"queue": "pensions|ar|-"},
    )
    assert (entry["staff_name"], entry["at"]) == ("Samira (supervisor)", clock().isoformat())

    # The customer may start again: a new join puts them back in line, at the end.
    clock.advance(seconds=5)
    assert (await customer.call("join", JOIN))["position"] == 2


async def test_a_customer_in_a_call_is_refused_and_the_call_goes_on(server, peers) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _staff(server, peers, "/supervisor", "supervisor")
    agent = await _staff(server, peers, "/agent", "agent.ar")
    await agent.call("set_availability", {"state": "available"})
    customer, visit_id = await _customer(server, peers)
    offer = await agent.next("offer")
    answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
    await customer.next("connected")

    refused = await supervisor.call("remove_from_line", {"customer_id": visit_id})
    assert refused["error"]["code"] == "not_waiting"
    assert customer.pending("removed_from_line") == 0
    [call] = (await server.app[HUB].supervisor_stats())["calls"]
    assert (call["call_id"], call["customer_id"]) == (answer["call_id"], visit_id)
    assert await _audit(server) == []


async def test_an_offered_customer_is_withdrawn_from_the_agent(server, peers) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _staff(server, peers, "/supervisor", "supervisor")
    agent = await _staff(server, peers, "/agent", "agent.ar")
    await agent.call("set_availability", {"state": "available"})
    customer, visit_id = await _customer(server, peers)
    offer = await agent.next("offer")

    assert (await supervisor.call("remove_from_line", {"customer_id": visit_id}))["ok"]
    withdrawn = await agent.next("offer_withdrawn")
    assert withdrawn == {"offer_id": offer["offer_id"], "reason": "removed_by_staff"}
    assert (await agent.call("accept", {"offer_id": offer["offer_id"]}))["ok"] is False
    await customer.next("removed_from_line")
    # The agent is free again at once: the next customer is offered to them.
    _, next_id = await _customer(server, peers)
    assert (await agent.next("offer"))["offer_id"] != offer["offer_id"]
    stats = await server.app[HUB].supervisor_stats()
    assert [a["customer_id"] for a in stats["agents"]] == [next_id]
    assert _pensions(stats)["answered"] == 0


async def test_bad_requests_are_refused(server, peers) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _staff(server, peers, "/supervisor", "supervisor")
    agent = await _staff(server, peers, "/agent", "agent.ar")
    customer, visit_id = await _customer(server, peers)
    for payload in ({}, {"customer_id": ""}, {"customer_id": visit_id, "reason": "x"}):
        answer = await supervisor.call("remove_from_line", payload)
        assert answer["error"]["code"] == "invalid_payload", payload
    # Only supervisors have the event; a customer cannot remove anyone, not even themselves.
    assert (await agent.call("remove_from_line", {"customer_id": visit_id}))["error"][
        "code"
    ] == "unknown_event"
    assert (await customer.call("remove_from_line", {"customer_id": visit_id}))["error"][
        "code"
    ] == "unknown_event"
    assert [w["customer_id"] for w in (await server.app[HUB].supervisor_stats())["waiting"]] == [
        visit_id
    ]
