"""One contract, two stores: the same scenarios on the in-memory store and on the real Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from vbranch_queue.core.model import AgentChoice, AgentState, Needs, RoutingConfig, Skills
from vbranch_queue.errors import (
    AgentBusy,
    AlreadyQueued,
    CustomerBusy,
    NotQualified,
    NotYourOffer,
    UnknownOffer,
)

PENSIONS_AR = Needs("pensions", "ar")
PENSIONS_EN = Needs("pensions", "en")
MEDICAL_AR = Needs("medical", "ar")
PENSIONS_AR_SIGN = Needs("pensions", "ar", sign_language=True)

GENERALIST = Skills.of(["pensions", "medical"], ["ar", "en"])
SIGNER = Skills.of(["pensions", "medical"], ["ar", "en"], sign_language=True)
ENGLISH_PENSIONS = Skills.of(["pensions"], ["en"])


async def available(store, agent_id: str, skills: Skills, now: float) -> list:  # type: ignore[no-untyped-def]
    await store.upsert_agent(agent_id, skills, now)
    return await store.set_agent_state(agent_id, AgentState.AVAILABLE, now)


def states(snapshot) -> dict[str, AgentState]:  # type: ignore[no-untyped-def]
    return {a.agent_id: a.state for a in snapshot.agents}


async def test_a_new_customer_goes_to_the_longest_idle_qualified_agent(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "a1", GENERALIST, 10)
    await available(store, "a2", GENERALIST, 5)
    await available(store, "en", ENGLISH_PENSIONS, 1)
    offer = await store.join("c1", PENSIONS_AR, 0, 100)
    assert offer is not None
    assert (offer.agent_id, offer.customer_id, offer.needs) == ("a2", "c1", PENSIONS_AR)
    assert offer.expires_at == 120 and offer.enqueued_at == 100
    assert states(await store.snapshot(100))["a2"] is AgentState.OFFERED


async def test_least_busy_agent_choice(store_factory) -> None:  # type: ignore[no-untyped-def]
    store = await store_factory(
        RoutingConfig(agent_choice=AgentChoice.LEAST_BUSY, wrap_up_seconds=0)
    )
    await available(store, "busy", GENERALIST, 0)
    offer = await store.join("c1", PENSIONS_AR, 0, 1)
    await store.accept(offer.offer_id, "busy", 2)
    await store.end_call("busy", 3)  # available again since t=3, one call today
    await available(store, "fresh", GENERALIST, 10)  # idle for less time, no calls
    offer = await store.join("c2", PENSIONS_AR, 0, 20)
    assert offer.agent_id == "fresh"


async def test_waiting_then_served_in_priority_then_arrival_order(store) -> None:  # type: ignore[no-untyped-def]
    assert await store.join("early", PENSIONS_AR, 0, 100) is None
    assert await store.join("late", PENSIONS_AR, 0, 110) is None
    assert await store.join("urgent", PENSIONS_AR, 1, 115) is None
    assert [(await store.position(c, 120)).position for c in ("urgent", "early", "late")] == [
        1,
        2,
        3,
    ]
    served = []
    for n in range(3):
        offers = await available(store, f"a{n}", GENERALIST, 120 + n)
        assert len(offers) == 1
        served.append(offers[0].customer_id)
    assert served == ["urgent", "early", "late"]


async def test_aging_lets_a_long_wait_beat_a_higher_priority(store) -> None:  # type: ignore[no-untyped-def]
    # One priority level is worth 60 s of waiting (the default step).
    await store.join("patient", PENSIONS_AR, 0, 0)
    await store.join("urgent_newcomer", PENSIONS_AR, 1, 61)
    offers = await available(store, "a", GENERALIST, 62)
    assert offers[0].customer_id == "patient"


async def test_an_agent_gets_the_best_customer_across_the_lines_they_cover(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("medical_first", MEDICAL_AR, 0, 10)
    await store.join("pension_later", PENSIONS_AR, 0, 20)
    await store.join("english", PENSIONS_EN, 0, 5)
    offers = await available(store, "ar_only", Skills.of(["pensions", "medical"], ["ar"]), 30)
    assert offers[0].customer_id == "medical_first"


async def test_sign_language_is_offered_only_to_sign_language_agents(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "hearing", GENERALIST, 0)
    assert await store.join("deaf", PENSIONS_AR_SIGN, 0, 10) is None
    assert (await store.position("deaf", 10)).position == 1
    offers = await available(store, "signer", SIGNER, 20)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("deaf", "signer")]
    # A sign-language agent also serves ordinary calls when free.
    await store.reject(offers[0].offer_id, "signer", 21)


async def test_accept_starts_the_call_and_counts_the_answer(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 100)
    [offer] = await available(store, "a", GENERALIST, 115)
    answered = await store.accept(offer.offer_id, "a", 118)
    assert (answered.customer_id, answered.agent_id, answered.waited_seconds) == ("c1", "a", 18)
    snapshot = await store.snapshot(118)
    assert states(snapshot)["a"] is AgentState.ON_CALL
    [queue] = snapshot.queues
    assert (queue.answered, queue.answered_in_time, queue.waiting) == (1, 1, 0)
    assert queue.average_speed_of_answer == 18
    assert await store.position("c1", 118) is None
    with pytest.raises(UnknownOffer):
        await store.accept(offer.offer_id, "a", 119)


async def test_the_service_level_threshold_is_30_s_for_sign_language(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("slow", PENSIONS_AR, 0, 0)
    await store.join("deaf", PENSIONS_AR_SIGN, 0, 0)
    [o1] = await available(store, "a", GENERALIST, 25)
    [o2] = await available(store, "s", SIGNER, 25)
    await store.accept(o1.offer_id, "a", 25)
    await store.accept(o2.offer_id, "s", 25)
    queues = {q.needs: q for q in (await store.snapshot(25)).queues}
    assert queues[PENSIONS_AR].answered_in_time == 0  # 25 s > 20 s
    assert queues[PENSIONS_AR_SIGN].answered_in_time == 1  # 25 s <= 30 s
    assert queues[PENSIONS_AR].service_level == 0.0
    assert queues[PENSIONS_AR_SIGN].service_level == 1.0


async def test_reject_passes_the_customer_to_the_next_agent(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "first", GENERALIST, 0)
    await available(store, "second", GENERALIST, 1)
    offer = await store.join("c1", PENSIONS_AR, 0, 10)
    assert offer.agent_id == "first"
    offers = await store.reject(offer.offer_id, "first", 12)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("c1", "second")]
    assert states(await store.snapshot(12))["first"] is AgentState.AVAILABLE


async def test_a_rejected_customer_keeps_their_original_place(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 10)
    await store.join("c2", PENSIONS_AR, 0, 20)
    [offer] = await available(store, "a", GENERALIST, 30)
    assert offer.customer_id == "c1"
    await store.join("c3", PENSIONS_AR, 0, 31)
    # Nobody else is free: c1 goes back ahead of c2 and c3, and the same agent is offered them again.
    offers = await store.reject(offer.offer_id, "a", 32)
    assert [o.customer_id for o in offers] == ["c1"]


async def test_missed_offers_in_a_row_set_the_agent_away(store) -> None:  # type: ignore[no-untyped-def]
    # max_missed_offers is 2 in the contract configuration.
    await store.join("c1", PENSIONS_AR, 0, 0)
    [offer] = await available(store, "a", GENERALIST, 1)
    [offer] = await store.reject(offer.offer_id, "a", 2)
    assert await store.reject(offer.offer_id, "a", 3) == []
    assert states(await store.snapshot(3))["a"] is AgentState.AWAY
    assert (await store.position("c1", 3)).position == 1


async def test_an_offer_times_out_and_goes_to_the_next_agent(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "sleepy", GENERALIST, 0)
    offer = await store.join("c1", PENSIONS_AR, 0, 100)
    await available(store, "awake", GENERALIST, 105)
    assert await store.expire(120) == []  # exactly at the timeout the offer still stands
    offers = await store.expire(120.5)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("c1", "awake")]
    with pytest.raises(UnknownOffer):
        await store.accept(offer.offer_id, "sleepy", 121)


async def test_only_the_offered_agent_may_answer(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "a", GENERALIST, 0)
    await available(store, "b", GENERALIST, 1)
    offer = await store.join("c1", PENSIONS_AR, 0, 2)
    with pytest.raises(NotYourOffer):
        await store.accept(offer.offer_id, "b", 3)
    with pytest.raises(UnknownOffer):
        await store.accept("o-nonexistent", "a", 3)


async def test_leaving_counts_as_abandoned_and_frees_an_offered_agent(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("waiting", PENSIONS_AR, 0, 0)
    left = await store.leave("waiting", 5)
    assert left.abandoned and left.offers == []
    await store.join("c2", PENSIONS_AR, 0, 6)
    await store.join("c3", PENSIONS_AR, 0, 7)
    [offer] = await available(store, "a", GENERALIST, 8)
    left = await store.leave(offer.customer_id, 9)
    assert left.abandoned
    assert [(o.customer_id, o.agent_id) for o in left.offers] == [("c3", "a")]
    assert not (await store.leave("nobody", 10)).abandoned
    [queue] = (await store.snapshot(10)).queues
    assert queue.abandoned == 2 and queue.joined == 3


async def test_the_days_counters_restart_at_midnight_in_the_contact_centers_zone(  # type: ignore[no-untyped-def]
    store_factory,
) -> None:
    store = await store_factory(RoutingConfig(), ZoneInfo("Asia/Riyadh"))  # UTC+3
    evening = datetime(2026, 11, 22, 20, 59, tzinfo=UTC).timestamp()  # 23:59 in Riyadh
    await store.join("late", PENSIONS_AR, 0, evening)
    assert await store.leave("late", evening + 30)
    [queue] = (await store.snapshot(evening + 50)).queues
    assert (queue.joined, queue.abandoned) == (1, 1)
    # 21:00 UTC is midnight in Riyadh: a new day, though UTC's has three hours to go.
    await store.join("early", PENSIONS_AR, 0, evening + 70)
    [queue] = (await store.snapshot(evening + 80)).queues
    assert (queue.joined, queue.abandoned, queue.waiting) == (1, 0, 1)


async def test_wrap_up_holds_offers_until_it_ends(store) -> None:  # type: ignore[no-untyped-def]
    [offer] = [o for o in [await store.join("c1", PENSIONS_AR, 0, 0)] if o] or [None]
    assert offer is None
    [offer] = await available(store, "a", GENERALIST, 1)
    await store.accept(offer.offer_id, "a", 2)
    await store.join("c2", PENSIONS_AR, 0, 3)
    assert await store.end_call("a", 60) == []
    assert states(await store.snapshot(60))["a"] is AgentState.WRAP_UP
    assert await store.expire(89) == []
    offers = await store.expire(90)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("c2", "a")]
    [queue] = (await store.snapshot(90)).queues
    assert queue.average_handle_seconds == 58


async def test_finishing_wrap_up_early(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 0)
    [offer] = await available(store, "a", GENERALIST, 1)
    await store.accept(offer.offer_id, "a", 2)
    await store.end_call("a", 10)
    await store.join("c2", PENSIONS_AR, 0, 11)
    offers = await store.finish_wrap_up("a", 12)
    assert [o.customer_id for o in offers] == ["c2"]
    await store.accept(offers[0].offer_id, "a", 13)
    assert await store.expire(45) == []  # the old wrap-up timer (t=40) is gone
    assert states(await store.snapshot(45))["a"] is AgentState.ON_CALL


async def test_agent_states_are_guarded(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 0)
    [offer] = await available(store, "a", GENERALIST, 1)
    await store.accept(offer.offer_id, "a", 2)
    with pytest.raises(AgentBusy):
        await store.set_agent_state("a", AgentState.AWAY, 3)
    with pytest.raises(AgentBusy):
        await store.finish_wrap_up("a", 3)
    with pytest.raises(ValueError, match="cannot be set"):
        await store.set_agent_state("a", AgentState.ON_CALL, 3)


async def test_going_away_with_an_open_offer_hands_the_customer_on(store) -> None:  # type: ignore[no-untyped-def]
    await available(store, "a", GENERALIST, 0)
    offer = await store.join("c1", PENSIONS_AR, 0, 1)
    offers = await store.set_agent_state("a", AgentState.AWAY, 2)
    assert offers == []
    assert (await store.position("c1", 2)).position == 1
    offers = await available(store, "b", GENERALIST, 3)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("c1", "b")]
    with pytest.raises(UnknownOffer):
        await store.accept(offer.offer_id, "a", 3)


async def test_joining_twice_is_refused(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 0)
    with pytest.raises(AlreadyQueued):
        await store.join("c1", MEDICAL_AR, 0, 1)


async def test_front_of_line_for_a_transfer(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("waiting_long", PENSIONS_AR, 3, 0)
    await store.join("transferred", PENSIONS_AR, 0, 500, enqueued_at=400, front=True)
    assert (await store.position("transferred", 500)).position == 1
    [offer] = await available(store, "a", GENERALIST, 501)
    assert offer.customer_id == "transferred" and offer.enqueued_at == 400


async def test_supervisor_changes_priority(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 0)
    await store.join("c2", PENSIONS_AR, 0, 10)
    await store.set_priority("c2", 2, 11)
    assert (await store.position("c2", 11)).position == 1
    waiting = await store.waiting(PENSIONS_AR)
    assert [(w.customer_id, w.base_priority) for w in waiting] == [("c2", 2), ("c1", 0)]


async def test_supervisor_moves_a_customer_keeping_their_join_time(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 0)
    await store.join("m1", MEDICAL_AR, 0, 5)
    assert await store.move("c1", MEDICAL_AR, 10) is None
    assert (await store.position("c1", 10)).position == 1
    assert await store.waiting(PENSIONS_AR) == []
    await available(store, "en", ENGLISH_PENSIONS, 11)
    offer = await store.move("c1", PENSIONS_EN, 12)
    assert (offer.agent_id, offer.enqueued_at) == ("en", 0)


async def test_supervisor_offers_to_a_named_agent(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("deaf", PENSIONS_AR_SIGN, 0, 0)
    await available(store, "hearing", GENERALIST, 1)
    with pytest.raises(NotQualified):
        await store.offer_to("deaf", "hearing", 2)
    await store.join("c1", PENSIONS_EN, 0, 3)  # goes straight to "hearing"
    await store.upsert_agent("signer", SIGNER, 4)
    with pytest.raises(AgentBusy):
        await store.offer_to("deaf", "signer", 4)  # offline
    with pytest.raises(CustomerBusy):
        await store.offer_to("c1", "hearing", 4)  # already offered


async def test_snapshot_reports_waiting_longest_wait_and_agents(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c1", PENSIONS_AR, 0, 100)
    await store.join("c2", PENSIONS_AR, 5, 130)
    await store.join("m1", MEDICAL_AR, 0, 140)
    await store.upsert_agent("off", GENERALIST, 0)
    snapshot = await store.snapshot(160)
    queues = {q.needs: q for q in snapshot.queues}
    assert (queues[PENSIONS_AR].waiting, queues[PENSIONS_AR].longest_wait_seconds) == (2, 60)
    assert (queues[MEDICAL_AR].waiting, queues[MEDICAL_AR].longest_wait_seconds) == (1, 20)
    assert states(snapshot) == {"off": AgentState.OFFLINE}


async def test_estimated_wait_uses_staffed_qualified_agents(store) -> None:  # type: ignore[no-untyped-def]
    await store.join("c0", PENSIONS_AR, 0, 0)
    await available(store, "a", GENERALIST, 1)  # takes c0
    await available(store, "b", GENERALIST, 2)
    await store.join("c1", PENSIONS_AR, 0, 3)  # to b
    await store.join("c2", PENSIONS_AR, 0, 4)
    await store.join("c3", PENSIONS_AR, 0, 5)
    position = await store.position("c3", 6)
    # Two staffed agents, the default handle time of 300 s, two people ahead counting c3 itself.
    assert (position.position, position.estimated_wait_seconds) == (2, 300.0)
    assert (await store.position("c1", 6)).offered
    await store.upsert_agent("x", GENERALIST, 7)  # offline: not staffed
    await store.set_agent_state("a", AgentState.AWAY, 8)  # hands c0 on to nobody: c0 first
    assert (await store.position("c0", 8)).position == 1
    assert (await store.position("c0", 8)).estimated_wait_seconds == 300.0  # b alone
    assert (await store.position("deaf-none", 8)) is None
