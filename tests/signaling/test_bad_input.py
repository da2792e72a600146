"""Hostile and malformed input: refused with an error acknowledgement, never a crash, a relay or a
change of state; afterwards the server still serves a normal call.

Hypothesis generates the events; they are then sent over real sockets to a live server.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vbranch_server.realtime.wiring import HUB

from .conftest import Peer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JOIN = {"category": "pensions", "language": "ar", "sign_language": False}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
# Events a stranger may send that must all fail for them: they only act on calls and offers,
# and the stranger has none. (join, leave and set_availability are legitimate for anyone.)
CALL_EVENTS = ["signal", "chat", "hang_up", "media_connected", "transfer", "finish_wrap_up"]
OFFER_EVENTS = ["accept", "reject"]


def hostile_events(call_id: str, offer_id: str) -> st.SearchStrategy[tuple[str, Any]]:
    someone_elses_call = st.fixed_dictionaries(
        {"call_id": st.just(call_id)},
        optional={
            "text": st.text(min_size=1, max_size=50),
            "description": st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["offer", "answer"]),
                    "sdp": st.text(min_size=1, max_size=50),
                }
            ),
            "candidate": st.none(),
            "category": st.just("medical"),
        },
    )
    return st.one_of(
        st.tuples(st.text(max_size=30), json_values),  # anything at all
        st.tuples(st.sampled_from(CALL_EVENTS), json_values),  # known events, junk payloads
        st.tuples(st.sampled_from(CALL_EVENTS), someone_elses_call),  # other people's call
        st.tuples(
            st.sampled_from(OFFER_EVENTS),
            st.fixed_dictionaries({"offer_id": st.sampled_from([offer_id, "o999", "x"])}),
        ),
        st.tuples(
            st.sampled_from(CALL_EVENTS), st.just({"call_id": call_id, "text": "x" * 70_000})
        ),  # oversized
    )


def draw_events(call_id: str, offer_id: str, count: int) -> list[tuple[str, Any]]:
    drawn: list[tuple[str, Any]] = []

    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(hostile_events(call_id, offer_id))
    def collect(event: tuple[str, Any]) -> None:
        drawn.append(event)

    collect()
    return drawn


def state_of(hub) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    registry = hub.registry
    return copy.deepcopy(
        {"calls": registry.calls, "visits": registry.visits, "offers": registry.call_by_offer}
    )


async def test_hostile_events_change_nothing(
    server, start_call, connect_agent, connect_customer
) -> None:  # type: ignore[no-untyped-def]
    hub = server.app[HUB]
    call = await start_call()
    agent, customer, offer, call_id = call.agent, call.customer, call.offer, call.call_id

    stranger = await connect_customer()
    other_agent = await connect_agent("agent.sign")  # logged in, but away: no offers, no calls
    before = state_of(hub)
    stats_before = await hub.supervisor_stats()

    events = draw_events(call_id, offer["offer_id"], count=150)
    for sender in (stranger, other_agent):
        for event, payload in events:
            if sender.namespace == "/customer" and event in {"join", "leave"}:
                continue
            if sender.namespace == "/agent" and event == "set_availability":
                continue
            ack = await sender.call(event, payload)
            assert isinstance(ack, dict) and ack["ok"] is False, (event, payload, ack)
            assert ack["error"]["code"] in {
                "unknown_event",
                "invalid_payload",
                "payload_too_large",
                "not_in_call",
                "unknown_offer",
                "not_your_offer",
                "wrong_state",
                "rate_limited",  # a stranger's flood of chats or signals, cut before parsing
            }, ack

    # Nothing reached the call's members, and nothing changed.
    assert customer.pending("signal") == customer.pending("chat") == 0
    assert agent.pending("signal") == agent.pending("chat") == agent.pending("call_ended") == 0
    assert state_of(hub) == before
    assert await hub.supervisor_stats() == stats_before

    # Unauthenticated connections are refused whatever they send.
    url = str(server.make_url("/"))
    for namespace, auth in [
        ("/customer", {"token": "x.y"}),
        ("/customer", "junk"),
        ("/agent", None),
        ("/supervisor", {"a": 1}),
    ]:
        intruder = Peer(namespace)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await intruder.connect(url, auth=auth)
        await intruder.close()

    # The server still serves: the call relays, and a new call completes.
    assert (await customer.call("chat", {"call_id": call_id, "text": "still fine"}))["ok"]
    assert (await agent.next("chat"))["text"] == "still fine"
    assert (await other_agent.call("set_availability", {"state": "available"}))["ok"]
    newcomer = await connect_customer()
    await newcomer.call("join", {**JOIN, "sign_language": True})
    new_offer = await other_agent.next("offer")
    new_call = await other_agent.call("accept", {"offer_id": new_offer["offer_id"]})
    assert new_call["ok"]
    await newcomer.next("connected")
    assert (await newcomer.call("hang_up", {"call_id": new_call["call_id"]}))["ok"]
