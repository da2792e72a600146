"""A whole call over the documented protocol, through a real server, with the CRM behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import socketio
from sqlalchemy import select

from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import CallRecord, Ticket, TicketChannel, TicketEvent, TicketStatus
from vbranch_server.realtime.wiring import HUB

from .aiortc_peer import eventually
from .conftest import Peer, staff_cookie, visit_token

JOIN = {"category": "pensions", "language": "ar", "sign_language": False, "display_name": "Ali"}
OFFER_SDP = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}


async def _grace_started(hub, member: str) -> None:  # type: ignore[no-untyped-def]
    """The server notices a closed socket a moment after the client closes it."""
    await eventually(lambda: member in hub.registry.grace, within=5)


async def _ticket_and_call(settings, reference: str):  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            ticket = await db.scalar(select(Ticket).where(Ticket.reference == reference))
            record = await db.scalar(select(CallRecord).where(CallRecord.ticket_id == ticket.id))
            return ticket, record
    finally:
        await engine.dispose()


async def _history(settings, ticket_id: int) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    """The ticket's history lines as (kind, actor's username, body or new status)."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            events = await db.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            )
            return [
                (
                    e.kind.value,
                    e.actor.username if e.actor else e.actor_label,
                    e.body or e.to_status or (str(e.assigned_to_id) if e.assigned_to_id else None),
                )
                for e in events
            ]
    finally:
        await engine.dispose()


async def test_a_whole_call(server, connect_agent, connect_customer, clock, settings) -> None:  # type: ignore[no-untyped-def]
    agent = await connect_agent("agent.ar")
    assert await agent.call("set_availability", {"state": "available"}) == {
        "ok": True,
        "state": "available",
    }
    customer = await connect_customer()
    joined = await customer.call("join", JOIN)
    assert joined["ok"] and joined["position"] == 0  # an agent is being offered the call

    offer = await agent.next("offer")
    assert offer["customer"] == {
        "display_name": "Ali",
        "language": "ar",
        "category": "pensions",
        "sign_language": False,
        "handoff_note": None,
        "ticket_reference": None,
    }
    assert offer["timeout_seconds"] == 20

    clock.advance(seconds=3)
    answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
    assert answer["ok"] and answer["polite"] is False
    connected = await customer.next("connected")
    call_id = answer["call_id"]
    assert connected["call_id"] == call_id and connected["polite"] is True
    assert connected["agent"]["display_name"] == "Ahmad (Arabic, English)"
    assert connected["ticket_reference"] == answer["ticket_reference"]

    # Negotiation and chat reach only the other member of the call.
    assert (await agent.call("signal", {"call_id": call_id, "description": OFFER_SDP}))["ok"]
    assert (await customer.next("signal")) == {"call_id": call_id, "description": OFFER_SDP}
    candidate = {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    assert (await customer.call("signal", {"call_id": call_id, "candidate": candidate}))["ok"]
    assert (await agent.next("signal"))["candidate"] == candidate
    sent = await customer.call("chat", {"call_id": call_id, "text": "مرحبا"})
    message = await agent.next("chat")
    assert (message["text"], message["from"], message["message_id"]) == (
        "مرحبا",
        "customer",
        sent["message_id"],
    )

    clock.advance(seconds=2)
    assert (await customer.call("media_connected", {"call_id": call_id}))["ok"]
    assert (await agent.call("media_connected", {"call_id": call_id}))["ok"]
    clock.advance(seconds=120)
    assert (await agent.call("hang_up", {"call_id": call_id}))["ok"]
    ended = await customer.next("call_ended")
    assert (
        ended["reason"] == "completed" and ended["ticket_reference"] == answer["ticket_reference"]
    )
    assert len(ended["secret_code"]) == 10
    assert (await agent.next("call_ended"))["reason"] == "completed"

    done = await agent.call(
        "finish_wrap_up",
        {"call_id": call_id, "outcome": "resolved_in_call", "notes": "Explained pension dates"},
    )
    assert done == {"ok": True, "state": "available"}

    ticket, record = await _ticket_and_call(settings, answer["ticket_reference"])
    assert ticket.status is TicketStatus.OPEN  # first response given when the call connected
    assert ticket.first_response_at == record.connected_at == clock() - timedelta(seconds=120)
    assert (ticket.channel, ticket.subject, ticket.assigned_agent_id) == (
        TicketChannel.VIDEO,
        "Video visit",
        record.agent_id,
    )
    assert ticket.first_response_due_at < ticket.resolution_at_risk_at < ticket.resolution_due_at
    assert await _history(settings, ticket.id) == [
        ("created", "agent.ar", "new"),
        ("assignment", "agent.ar", str(record.agent_id)),
        ("status_change", "agent.ar", "open"),
        ("note", "agent.ar", "Explained pension dates"),
    ]
    assert (record.wait_seconds, record.talk_seconds, record.end_reason, record.outcome) == (
        3,
        120,
        "completed",
        "resolved_in_call",
    )


async def test_relay_rules(server, start_call, connect_customer) -> None:  # type: ignore[no-untyped-def]
    call = await start_call()
    agent, customer, offer, call_id = call.agent, call.customer, call.offer, call.call_id
    stranger = await connect_customer()

    def error_code(ack):  # type: ignore[no-untyped-def]
        assert ack["ok"] is False
        return ack["error"]["code"]

    # Another customer cannot speak into this call.
    assert (
        error_code(await stranger.call("signal", {"call_id": call_id, "description": OFFER_SDP}))
        == "not_in_call"
    )
    assert (
        error_code(await stranger.call("chat", {"call_id": call_id, "text": "hi"})) == "not_in_call"
    )
    assert error_code(await stranger.call("hang_up", {"call_id": call_id})) == "not_in_call"
    # Unknown events, bad payloads, oversized payloads: refused with a code.
    assert error_code(await customer.call("become_admin", {})) == "unknown_event"
    assert error_code(await customer.call("signal", {"call_id": call_id})) == "invalid_payload"
    assert error_code(await customer.call("signal", "not an object")) == "invalid_payload"
    assert (
        error_code(await customer.call("chat", {"call_id": call_id, "text": "x" * 70_000}))
        == "payload_too_large"
    )
    assert (
        error_code(await customer.call("accept", {"offer_id": offer["offer_id"]}))
        == "unknown_event"
    )
    assert error_code(await agent.call("join", JOIN)) == "unknown_event"
    assert customer.pending("signal") == agent.pending("signal") == 0
    assert agent.pending("chat") == 0
    # The call is untouched and still relays.
    assert (await customer.call("chat", {"call_id": call_id, "text": "still here"}))["ok"]
    assert (await agent.next("chat"))["text"] == "still here"


async def test_connections_are_authenticated(server, connect_agent) -> None:  # type: ignore[no-untyped-def]
    url = str(server.make_url("/"))
    for namespace, kwargs in [
        ("/customer", {}),
        ("/customer", {"auth": {"token": "forged.token"}}),
        ("/agent", {}),
        ("/agent", {"auth": {"token": (await visit_token(server))["token"]}}),
        (
            "/supervisor",
            {"headers": {"Cookie": f"vb_session={await staff_cookie(server, 'agent.ar')}"}},
        ),
    ]:
        peer = Peer(namespace)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await peer.connect(url, **kwargs)
        await peer.close()
    supervisor = Peer("/supervisor")
    await supervisor.connect(
        url, headers={"Cookie": f"vb_session={await staff_cookie(server, 'supervisor')}"}
    )
    stats = await supervisor.next("stats")
    assert {"queues", "agents"} <= set(stats)
    await supervisor.close()


async def test_offer_timeout_goes_to_the_next_agent_and_transfer_keeps_the_ticket(  # type: ignore[no-untyped-def]
    server, connect_agent, connect_customer, clock
) -> None:
    hub = server.app[HUB]
    first = await connect_agent("agent.ar")
    await first.call("set_availability", {"state": "available"})
    customer = await connect_customer()
    await customer.call("join", JOIN)
    offer = await first.next("offer")
    second = await connect_agent("agent.sign")
    await second.call("set_availability", {"state": "available"})
    clock.advance(seconds=21)
    await hub.tick()
    assert (await first.next("offer_withdrawn")) == {
        "offer_id": offer["offer_id"],
        "reason": "timeout",
    }
    offer2 = await second.next("offer")
    answer = await second.call("accept", {"offer_id": offer2["offer_id"]})
    call_id = answer["call_id"]
    await customer.next("connected")

    # Transfer to a sign-language line: the customer goes to its front with the same ticket.
    moved = await second.call(
        "transfer", {"call_id": call_id, "sign_language": True, "note": "Prefers signing"}
    )
    assert moved["ok"], moved
    requeued = await customer.next("requeued")
    assert requeued["reason"] == "transfer"
    assert (await second.next("call_ended"))["reason"] == "transferred"
    assert (await second.call("finish_wrap_up", {"call_id": call_id}))["ok"]
    offer3 = await second.next("offer")  # agent.sign is the only sign-language agent
    assert offer3["customer"]["sign_language"] is True
    assert offer3["customer"]["handoff_note"] == "Prefers signing"
    assert offer3["customer"]["ticket_reference"] == answer["ticket_reference"]
    again = await second.call("accept", {"offer_id": offer3["offer_id"]})
    assert again["ticket_reference"] == answer["ticket_reference"]


async def test_a_dropped_customer_comes_back_to_the_call(server, connect_agent, clock) -> None:  # type: ignore[no-untyped-def]
    hub = server.app[HUB]
    agent = await connect_agent("agent.ar")
    await agent.call("set_availability", {"state": "available"})
    visit = await visit_token(server)
    url = str(server.make_url("/"))
    customer = Peer("/customer")
    await customer.connect(url, auth={"token": visit["token"]})
    await customer.call("join", JOIN)
    offer = await agent.next("offer")
    call_id = (await agent.call("accept", {"offer_id": offer["offer_id"]}))["call_id"]
    await customer.next("connected")
    assert (await customer.call("media_connected", {"call_id": call_id}))["ok"]
    await customer.close()
    await _grace_started(hub, f"customer:{visit['visit_id']}")

    clock.advance(seconds=20)
    await hub.tick()
    back = Peer("/customer")
    await back.connect(url, auth={"token": visit["token"]})
    resumed = await back.next("connected")
    assert resumed["call_id"] == call_id and resumed["resumed"] is True
    # The agent learns nothing of the drop: the call goes on.
    assert agent.pending("call_ended") == 0
    clock.advance(seconds=25)  # past the first grace period: it was cancelled on return
    await hub.tick()
    chat = await back.call("chat", {"call_id": call_id, "text": "back"})
    assert chat["ok"], chat
    await back.close()
    await _grace_started(hub, f"customer:{visit['visit_id']}")
    clock.advance(seconds=31)
    await hub.tick()
    assert (await agent.next("call_ended"))["reason"] == "customer_lost"


async def test_a_waiting_customer_keeps_their_place_through_a_drop(  # type: ignore[no-untyped-def]
    server, connect_customer, clock
) -> None:
    hub = server.app[HUB]
    url = str(server.make_url("/"))
    first = await connect_customer()
    await first.call("join", JOIN)
    clock.advance(seconds=1)  # a later arrival (equal times would be ordered by random visit id)
    visit = await visit_token(server)
    second = Peer("/customer")
    await second.connect(url, auth={"token": visit["token"]})
    assert (await second.call("join", JOIN))["position"] == 2
    await second.close()
    await _grace_started(hub, f"customer:{visit['visit_id']}")
    clock.advance(seconds=25)
    await hub.tick()
    back = Peer("/customer")
    await back.connect(url, auth={"token": visit["token"]})
    await hub.tick()
    assert (await back.next("queue_position"))["position"] == 2
    # Gone for good this time: counted as abandoned once the grace period ends.
    await back.close()
    await _grace_started(hub, f"customer:{visit['visit_id']}")
    clock.advance(seconds=31)
    await hub.tick()
    [queue] = (await hub.supervisor_stats())["queues"]
    assert (queue["waiting"], queue["abandoned"]) == (1, 1)


async def test_an_agent_lost_mid_call_sends_the_customer_to_the_front(  # type: ignore[no-untyped-def]
    server, start_call, connect_agent, connect_customer, clock
) -> None:
    hub = server.app[HUB]
    call = await start_call()
    agent, customer, answer = call.agent, call.customer, call.answer
    await customer.call("media_connected", {"call_id": answer["call_id"]})
    later = await connect_customer()
    await later.call("join", JOIN)
    agent_id = hub.registry.calls[answer["call_id"]].agent_id
    await agent.close()
    await _grace_started(hub, f"agent:{agent_id}")
    clock.advance(seconds=31)
    await hub.tick()
    requeued = await customer.next("requeued")
    assert (requeued["reason"], requeued["position"]) == ("agent_lost", 1)
    helper = await connect_agent("agent.sign")
    await helper.call("set_availability", {"state": "available"})
    again = await helper.next("offer")
    assert again["customer"]["ticket_reference"] == answer["ticket_reference"]


async def test_a_call_that_never_connects_returns_the_customer_to_the_front(  # type: ignore[no-untyped-def]
    server, start_call, clock
) -> None:
    hub = server.app[HUB]
    call = await start_call()
    agent, customer, answer = call.agent, call.customer, call.answer
    clock.advance(seconds=31)
    await hub.tick()
    assert (await customer.next("requeued"))["reason"] == "connect_failed"
    assert (await agent.next("call_ended"))["reason"] == "connect_failed"
    # After wrap-up the same agent is offered the same customer, with the same ticket.
    assert (await agent.call("finish_wrap_up", {"call_id": answer["call_id"]}))["ok"]
    retry = await agent.next("offer")
    assert retry["customer"]["ticket_reference"] == answer["ticket_reference"]


async def test_supervisor_sees_and_steers_the_queue(  # type: ignore[no-untyped-def]
    server, connect_agent, connect_customer, clock
) -> None:
    hub = server.app[HUB]
    url = str(server.make_url("/"))
    supervisor = Peer("/supervisor")
    await supervisor.connect(
        url, headers={"Cookie": f"vb_session={await staff_cookie(server, 'supervisor')}"}
    )
    try:
        await supervisor.next("stats")
        first = await connect_customer()
        await first.call("join", JOIN)
        clock.advance(seconds=1)
        second = await connect_customer()
        await second.call("join", JOIN)
        await hub.tick()
        stats = await supervisor.next("stats")
        [queue] = stats["queues"]
        assert (queue["category"], queue["waiting"]) == ("pensions", 2)

        # Priority: the second customer goes first.
        ack = await supervisor.call("set_priority", {"customer_id": second.visit_id, "priority": 5})
        assert ack == {"ok": True}
        assert (await hub.position_of(second.visit_id))["position"] == 1
        # Move: the first customer to medical questions, keeping their join time.
        ack = await supervisor.call(
            "move", {"customer_id": first.visit_id, "category": "medical", "language": "ar"}
        )
        assert ack == {"ok": True}
        # Offer to a named agent; refusals come back as error acknowledgements.
        agent = await connect_agent("agent.ar")
        refused = await supervisor.call(
            "offer_to", {"customer_id": second.visit_id, "agent_id": "999"}
        )
        assert refused["ok"] is False and refused["error"]["code"] == "unknown_agent"
        agent_id = str((await hub.supervisor_stats())["agents"][0]["agent_id"])
        busy = await supervisor.call(
            "offer_to", {"customer_id": second.visit_id, "agent_id": agent_id}
        )
        assert busy["error"]["code"] == "agent_busy"  # still offline
        await supervisor.call("set_agent_state", {"agent_id": agent_id, "state": "available"})
        offer = await agent.next("offer")  # the highest priority first
        assert offer["customer"]["category"] == "pensions"
        await supervisor.call("set_agent_state", {"agent_id": agent_id, "state": "away"})
        assert (await agent.next("offer_withdrawn"))["reason"] == "agent_left"
        assert (
            await supervisor.call(
                "offer_to", {"customer_id": second.visit_id, "agent_id": agent_id}
            )
        )["error"]["code"] == "agent_busy"
        await supervisor.call("set_agent_state", {"agent_id": agent_id, "state": "available"})
        await agent.next("offer")
        bad = await supervisor.call(
            "set_priority", {"customer_id": second.visit_id, "priority": 99}
        )
        assert bad["error"]["code"] == "invalid_payload"
    finally:
        await supervisor.close()


async def test_closing_one_of_two_sockets_keeps_the_member(  # type: ignore[no-untyped-def]
    server, connect_agent, connect_customer, clock
) -> None:
    """A second tab (or a reconnection before the old socket timed out) keeps the place."""
    hub = server.app[HUB]
    url = str(server.make_url("/"))
    visit = await visit_token(server)
    first, second = Peer("/customer"), Peer("/customer")
    await first.connect(url, auth={"token": visit["token"]})
    await first.call("join", JOIN)
    await second.connect(url, auth={"token": visit["token"]})
    await first.close()
    clock.advance(seconds=60)
    await hub.tick()
    assert (await hub.position_of(visit["visit_id"]))["position"] == 1
    # A client cannot fake the server's disconnect event either.
    refused = await second.call("disconnect", {})
    assert refused["ok"] is False and not hub.registry.grace
    await second.close()


async def test_a_customer_offline_when_the_call_ends_still_gets_the_code(  # type: ignore[no-untyped-def]
    server, connect_agent, clock
) -> None:
    hub = server.app[HUB]
    agent = await connect_agent("agent.ar")
    await agent.call("set_availability", {"state": "available"})
    visit = await visit_token(server)
    url = str(server.make_url("/"))
    customer = Peer("/customer")
    await customer.connect(url, auth={"token": visit["token"]})
    await customer.call("join", JOIN)
    offer = await agent.next("offer")
    answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
    await customer.next("connected")
    await customer.call("media_connected", {"call_id": answer["call_id"]})
    await customer.close()
    await _grace_started(hub, f"customer:{visit['visit_id']}")
    assert (await agent.call("hang_up", {"call_id": answer["call_id"]}))["ok"]
    back = Peer("/customer")
    await back.connect(url, auth={"token": visit["token"]})
    try:
        ended = await back.next("call_ended")
        assert ended["ticket_reference"] == answer["ticket_reference"]
        assert len(ended["secret_code"]) == 10
    finally:
        await back.close()
    # Gone for good: the finished visit is forgotten after the grace period.
    await _grace_started(hub, f"customer:{visit['visit_id']}")
    clock.advance(seconds=31)
    await hub.tick()
    assert await hub.registry.get_visit(visit["visit_id"]) is None


async def test_a_reloaded_console_gets_its_pending_offer_again(
    server, connect_agent, connect_customer
) -> None:  # type: ignore[no-untyped-def]
    agent = await connect_agent("agent.ar")
    await agent.call("set_availability", {"state": "available"})
    customer = await connect_customer()
    await customer.call("join", JOIN)
    offer = await agent.next("offer")
    await agent.close()
    again = await connect_agent("agent.ar")
    resent = await again.next("offer")
    assert resent["offer_id"] == offer["offer_id"]
    assert (await again.call("accept", {"offer_id": resent["offer_id"]}))["ok"]


async def test_a_closed_service_takes_no_one_into_its_line(server, connect_customer, clock) -> None:  # type: ignore[no-untyped-def]
    # Saturday 11:00 in Riyadh (pensions keeps Sunday–Thursday hours), 11:30 in Tehran (medical
    # is open on Saturdays).
    clock.now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    customer = await connect_customer()
    refused = await customer.call("join", {**JOIN, "category": "pensions"})
    assert refused == {
        "ok": False,
        "error": {
            "code": "service_closed",
            "message": "this service is closed now; leave a request instead",
        },
    }
    assert (await server.app[HUB].supervisor_stats())["waiting"] == []
    assert (await customer.call("join", {**JOIN, "category": "medical"}))["ok"]
