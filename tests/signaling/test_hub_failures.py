"""When the CRM fails mid-call, the routing and the people in the call are never left stuck.

The CRM here is a stand-in that fails on purpose (the failure is what is under test); the routing
store is the real in-memory one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from vbranch_queue.core.model import AgentState, RoutingConfig, Skills
from vbranch_queue.memory import MemoryRoutingStore
from vbranch_signaling.hub import CallHub, HubError, agent, customer
from vbranch_signaling.redis_registry import RedisRegistry
from vbranch_signaling.schemas import FinishWrapUp, Join


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    async def emit(self, event: str, data: Any, *, to: str, namespace: str) -> None:
        self.sent.append((to, event, data))

    def events(self, room: str) -> list[str]:
        return [event for to, event, _ in self.sent if to == room]


class FailingCrm:
    def __init__(self, fail: set[str]) -> None:
        self.fail = fail

    async def _maybe_fail(self, step: str) -> None:
        if step in self.fail:
            raise RuntimeError(f"database is locked ({step})")

    async def has_category(self, code: str) -> bool:
        return True

    async def service_open(self, code: str) -> bool:
        return True

    async def agent_name(self, agent_id: str) -> str:
        return "Agent"

    async def open_ticket(self, call, visit):  # type: ignore[no-untyped-def]
        await self._maybe_fail("open_ticket")
        return "VB-2026-000001", "CODE234567"

    async def call_connected(self, call) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_fail("call_connected")

    async def call_ended(self, call, note) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_fail("call_ended")

    async def wrap_up_finished(self, call, outcome, notes) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_fail("wrap_up_finished")


async def _hub(fail: set[str]) -> tuple[CallHub, Recorder, MemoryRoutingStore]:
    routing = MemoryRoutingStore(RoutingConfig(wrap_up_seconds=30))
    emitter = Recorder()
    ids = iter(f"id{n}" for n in range(1000))
    hub = CallHub(
        routing,
        FailingCrm(fail),
        emitter,
        clock=lambda: 100.0,
        new_id=lambda: next(ids),
        ice_servers=lambda _: [],
    )
    await hub.agent_ready("7", Skills.of(["pensions"], ["ar"]))
    await hub.set_availability("7", "available")
    await hub.customer_join("v1", "ar", Join(category="pensions", language="ar"))
    return hub, emitter, routing


async def _agent_state(routing: MemoryRoutingStore) -> AgentState:
    [view] = (await routing.snapshot(100.0)).agents
    return view.state


async def test_a_ticket_that_cannot_be_opened_frees_the_agent_and_requeues_the_customer() -> None:
    hub, emitter, routing = await _hub({"open_ticket"})
    [offer] = [data for to, event, data in emitter.sent if event == "offer"]
    with pytest.raises(HubError) as refused:
        await hub.accept("7", offer["offer_id"])
    assert refused.value.code == "internal_error"
    assert "requeued" in emitter.events(customer("v1").room)
    # Not stuck on a call: the agent is offered the customer again (the only one waiting).
    assert await _agent_state(routing) is AgentState.OFFERED
    assert emitter.events(agent("7").room).count("offer") == 2


async def test_a_crm_failure_at_hang_up_still_ends_the_call_for_both() -> None:
    hub, emitter, routing = await _hub({"call_ended", "call_connected", "wrap_up_finished"})
    [offer] = [data for to, event, data in emitter.sent if event == "offer"]
    call_id = (await hub.accept("7", offer["offer_id"]))["call_id"]
    await hub.media_connected(customer("v1"), call_id)  # the CRM write fails; the call goes on
    await hub.hang_up(customer("v1"), call_id)
    assert "call_ended" in emitter.events(customer("v1").room)
    assert "call_ended" in emitter.events(agent("7").room)
    assert await _agent_state(routing) is AgentState.WRAP_UP
    assert (await hub.finish_wrap_up("7", FinishWrapUp(call_id=call_id)))["state"] == "available"
    assert await _agent_state(routing) is AgentState.AVAILABLE


async def test_an_offer_withdrawn_meanwhile_cannot_be_accepted() -> None:
    hub, emitter, routing = await _hub(set())
    [offer] = [data for to, event, data in emitter.sent if event == "offer"]
    call = await hub.registry.call_for_offer(offer["offer_id"])
    assert call is not None
    await hub._withdraw(
        call, __import__("vbranch_signaling.calls").calls.CallEnd.NOT_ANSWERED, "timeout"
    )
    with pytest.raises(HubError) as refused:
        await hub.accept("7", offer["offer_id"])
    assert refused.value.code == "unknown_offer"
    assert (
        await _agent_state(routing) is AgentState.OFFERED
    )  # routing still holds the offer: no call started


async def test_finishing_a_wrap_up_that_already_ran_out_reports_the_true_state() -> None:
    hub, emitter, routing = await _hub(set())
    [offer] = [data for to, event, data in emitter.sent if event == "offer"]
    call_id = (await hub.accept("7", offer["offer_id"]))["call_id"]
    await hub.hang_up(customer("v1"), call_id)
    await routing.expire(100.0 + 31)  # the wrap-up time ran out: routing made the agent available
    answer = await hub.finish_wrap_up("7", FinishWrapUp(call_id=call_id, next_state="away"))
    assert answer == {"state": "away"}
    assert await _agent_state(routing) is AgentState.AWAY


async def test_the_whole_picture_is_built_only_while_a_supervisor_watches() -> None:
    hub, emitter, _ = await _hub(set())
    await hub._push_states()
    assert emitter.events("supervisors") == []
    # The offer itself told the agent they are offered: no push repeats it.
    assert emitter.events(agent("7").room) == ["offer"]

    await hub.supervisor_opened("sup-sid")
    await hub._push_states()
    [(_, _, stats)] = [sent for sent in emitter.sent if sent[0] == "supervisors"]
    assert [w["customer_id"] for w in stats["waiting"]] == [] and stats["calls"][0]["state"] == (
        "offered"
    )
    await hub.supervisor_closed("sup-sid")
    await hub._push_states()
    assert emitter.events("supervisors") == ["stats"]


async def test_an_agent_hears_of_state_changes_they_were_not_told_of() -> None:
    hub, emitter, routing = await _hub(set())
    await hub._push_states()
    assert emitter.events(agent("7").room) == ["offer"]
    # A supervisor sets them away, whoever watches: the push tells them.
    await hub.supervisor_set_agent_state("7", "away", by="sup-1")
    await hub._push_states()
    assert emitter.events(agent("7").room) == ["offer", "offer_withdrawn", "state"]
    assert emitter.sent[-1][2] == {"state": "away"}
    # Their own choice is told by its answer; the push does not say it again.
    assert await hub.set_availability("7", "available") == {"state": "available"}
    await hub._push_states()
    assert emitter.events(agent("7").room)[3:] == ["offer"]  # the customer waiting is offered
    # A reloaded console knows nothing: the next push tells the state again.
    await hub.reconnected(agent("7"))
    await hub._push_states()
    assert emitter.events(agent("7").room)[4:] == ["offer", "state"]
    assert emitter.sent[-1][2] == {"state": "offered"}
    assert await _agent_state(routing) is AgentState.OFFERED


@pytest.mark.redis
async def test_a_customer_whose_process_crashed_gets_the_grace_period(redis_url: str) -> None:
    """The customer waits, connected to a process that then crashes: the process holding the
    timers forgets its sockets, the grace period starts, and when it ends the place is given up."""
    client = Redis.from_url(redis_url, decode_responses=True)
    prefix = f"vbt-hub-{uuid.uuid4().hex[:8]}:"
    now = [100.0]
    try:
        survivor = RedisRegistry(client, prefix=prefix, process="survivor")
        crashed = RedisRegistry(client, prefix=prefix, process="crashed")
        hub = CallHub(
            MemoryRoutingStore(RoutingConfig(wrap_up_seconds=30)),
            FailingCrm(set()),
            Recorder(),
            clock=lambda: now[0],
            new_id=lambda: "id",
            ice_servers=lambda _: [],
            registry=survivor,
        )
        await hub.customer_join("v1", "ar", Join(category="pensions", language="ar"))
        await crashed.socket_opened("customer:v1", "sid-on-the-crashed-process")
        await survivor.process_alive()
        await hub.tick()
        assert await survivor.open_sockets("customer:v1") == 1  # its process is alive for now
        await client.delete(f"{prefix}process:crashed")  # it stopped saying so: it crashed

        await hub.tick()
        assert await survivor.open_sockets("customer:v1") == 0
        assert (await hub.position_of("v1"))["position"] == 1  # still in line, within grace
        now[0] += hub.config.grace_seconds + 1
        await hub.tick()
        assert (await hub.position_of("v1"))["position"] is None  # the place was given up
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
