"""Routing invariants over random event sequences, on every store kind (memory and Redis).

Each example drives a fresh store through a random list of operations with a clock that only moves
forward, and keeps a reference model beside it: a plain record of every customer, agent and open
offer, with the customers' queue scores. After every step the store must agree with the model, and
every offer the store makes is checked when it is made:

- an offer goes only to a qualified agent (sign language is never dropped), who was free, for a
  customer who was waiting; nobody holds two offers or calls, nobody is offered twice;
- an agent who becomes free is offered the qualified waiting customer with the lowest queue score
  (higher effective priority first, then the earlier arrival); ties may go either way;
- a customer who is placed goes to a free qualified agent if there is one (the agent choice
  decides which), and waits only when there is none;
- every customer who joined is exactly one of waiting (in one line), offered, answered, abandoned,
  and the counters, positions and lines the store reports agree with the model.

The model does not know the store's internals: where the contract leaves an order open (offers that
expire at the same moment, offers against wrap-ups in one `expire`), it accepts any of the orders.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vbranch_queue.core.model import (
    AgentChoice,
    AgentState,
    Needs,
    Offer,
    RoutingConfig,
    Skills,
    qualifies,
)
from vbranch_queue.core.priority import idle_score, queue_score
from vbranch_queue.core.stats import STAFFED_STATES, day_number, estimated_wait
from vbranch_queue.errors import (
    AgentBusy,
    AlreadyQueued,
    CustomerBusy,
    NotQualified,
    NotYourOffer,
    RoutingError,
    UnknownCustomer,
    UnknownOffer,
)

CATEGORIES = ("pensions", "medical", "unemployment")
LANGUAGES = ("ar", "en")
DAY = 86400

WAITING, OFFERED, ANSWERED, ABANDONED = "waiting", "offered", "answered", "abandoned"

StoreFactory = Callable[[RoutingConfig], Awaitable[Any]]


# --- the reference model -----------------------------------------------------------------------


@dataclass
class RefCustomer:
    customer_id: str
    needs: Needs
    base_priority: int
    enqueued_at: float
    front: bool
    status: str = WAITING
    offer_id: str | None = None


@dataclass
class RefAgent:
    agent_id: str
    skills: Skills
    state: AgentState = AgentState.OFFLINE
    idle_since: float = 0.0
    missed: int = 0
    calls: int = 0
    calls_day: int = -1
    offer_id: str | None = None
    customer_id: str | None = None
    wrap_until: float | None = None
    call_started: float = 0.0
    call_bucket: str | None = None


class Mismatch(AssertionError):
    """The store did something the model rules out."""


def expect(condition: bool, message: str) -> None:
    # An explicit exception rather than `assert`, so the checks run under python -O too.
    if not condition:
        raise Mismatch(message)


@dataclass
class Reference:
    config: RoutingConfig
    customers: dict[str, RefCustomer] = field(default_factory=dict)
    agents: dict[str, RefAgent] = field(default_factory=dict)
    #: Open offers in the order they were made (an offer past its time stays until `expire`).
    offers: dict[str, Offer] = field(default_factory=dict)
    offer_ids_seen: set[str] = field(default_factory=set)
    #: (day, bucket) -> counter -> value, as the stores count them.
    counters: dict[tuple[int, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    lines: set[Needs] = field(default_factory=set)
    #: Customers the store has already confirmed gone (no position): not asked again.
    seen_gone: set[str] = field(default_factory=set)

    def clone(self) -> Reference:
        # By hand: deepcopy of the whole model at every step would dominate the run time.
        return Reference(
            self.config,
            {key: copy.copy(c) for key, c in self.customers.items()},
            {key: copy.copy(a) for key, a in self.agents.items()},
            dict(self.offers),
            set(self.offer_ids_seen),
            defaultdict(Counter, {key: Counter(c) for key, c in self.counters.items()}),
            set(self.lines),
            set(self.seen_gone),
        )

    # --- scores and choices ---

    def score(self, customer: RefCustomer) -> float:
        step = self.config.priority_step_seconds
        return queue_score(customer.enqueued_at, customer.base_priority, step, customer.front)

    def calls_today(self, agent: RefAgent, now: float) -> int:
        return agent.calls if agent.calls_day == day_number(now) else 0

    def idle_rank(self, agent: RefAgent, now: float) -> float:
        least_busy = self.config.agent_choice is AgentChoice.LEAST_BUSY
        return idle_score(agent.idle_since, self.calls_today(agent, now), least_busy)

    def count(self, now: float, needs: Needs, counter: str, amount: float = 1) -> None:
        self.counters[(day_number(now), needs.bucket)][counter] += amount

    # --- decisions, checked against the offers the store returned ---

    def take(self, offer: Offer, pool: list[Offer], now: float) -> None:
        """The store made `offer`: it must be a legal one; the model records it."""
        pool.remove(offer)
        customer = self.customers.get(offer.customer_id)
        agent = self.agents.get(offer.agent_id)
        expect(customer is not None and agent is not None, f"offer to unknown parties: {offer}")
        assert customer is not None and agent is not None
        expect(
            not (customer.needs.sign_language and not agent.skills.sign_language),
            f"sign language dropped: {customer.customer_id} offered to non-signer {agent.agent_id}",
        )
        expect(
            qualifies(agent.skills, customer.needs),
            f"{agent.agent_id} {agent.skills} is not qualified for {customer.needs.bucket}",
        )
        expect(
            customer.status == WAITING,
            f"{customer.customer_id} offered to {agent.agent_id} while {customer.status}",
        )
        expect(
            agent.state is AgentState.AVAILABLE,
            f"{agent.agent_id} offered {customer.customer_id} while {agent.state}",
        )
        expect(offer.offer_id not in self.offer_ids_seen, f"offer id reused: {offer.offer_id}")
        expect(
            (offer.needs, offer.enqueued_at, offer.expires_at)
            == (customer.needs, customer.enqueued_at, now + self.config.offer_timeout),
            f"offer details wrong: {offer} for {customer}",
        )
        self.offer_ids_seen.add(offer.offer_id)
        self.offers[offer.offer_id] = offer
        customer.status, customer.offer_id = OFFERED, offer.offer_id
        agent.state, agent.offer_id, agent.customer_id = (
            AgentState.OFFERED,
            offer.offer_id,
            customer.customer_id,
        )

    def place(
        self, customer: RefCustomer, now: float, pool: list[Offer], exclude: str | None = None
    ) -> None:
        """A customer enters a line: to a free qualified agent if any, else they wait."""
        customer.status, customer.offer_id = WAITING, None
        self.lines.add(customer.needs)
        free = {
            a.agent_id: a
            for a in self.agents.values()
            if a.state is AgentState.AVAILABLE
            and a.agent_id != exclude
            and qualifies(a.skills, customer.needs)
        }
        if not free:
            return
        made = [o for o in pool if o.customer_id == customer.customer_id and o.agent_id in free]
        expect(
            bool(made),
            f"{customer.customer_id} ({customer.needs.bucket}) left waiting while qualified "
            f"agents {sorted(free)} are free; offers returned: {pool}",
        )
        offer = made[0]
        best = min(self.idle_rank(a, now) for a in free.values())
        expect(
            self.idle_rank(free[offer.agent_id], now) == best,
            f"{customer.customer_id} went to {offer.agent_id}, not the {self.config.agent_choice} "
            f"agent among {sorted(free)}",
        )
        self.take(offer, pool, now)

    def free(self, agent: RefAgent, now: float, pool: list[Offer]) -> None:
        """An agent becomes available: the qualified waiting customer with the lowest score."""
        agent.state, agent.idle_since = AgentState.AVAILABLE, now
        agent.offer_id = agent.customer_id = None
        agent.wrap_until = None
        candidates = {
            c.customer_id: c
            for c in self.customers.values()
            if c.status == WAITING and qualifies(agent.skills, c.needs)
        }
        if not candidates:
            return
        made = [o for o in pool if o.agent_id == agent.agent_id and o.customer_id in candidates]
        expect(
            bool(made),
            f"{agent.agent_id} became free with {sorted(candidates)} waiting but was offered "
            f"none of them; offers returned: {pool}",
        )
        offer = made[0]
        best = min(self.score(c) for c in candidates.values())
        chosen = candidates[offer.customer_id]
        expect(
            self.score(chosen) == best,
            f"{agent.agent_id} was offered {chosen.customer_id} (score {self.score(chosen)}), "
            f"but the lowest score among {sorted(candidates)} is {best}",
        )
        self.take(offer, pool, now)

    def screen(self, offers: Sequence[Offer], what: str) -> list[Offer]:
        """Whatever else the model says, an offer goes only to a qualified agent."""
        for offer in offers:
            customer, agent = self.customers.get(offer.customer_id), self.agents.get(offer.agent_id)
            expect(
                customer is not None and agent is not None, f"{what}: offer to strangers {offer}"
            )
            assert customer is not None and agent is not None
            expect(
                not customer.needs.sign_language or agent.skills.sign_language,
                f"{what}: sign language dropped: {offer} to a non-signer",
            )
            expect(
                qualifies(agent.skills, customer.needs),
                f"{what}: {agent.agent_id} {agent.skills} not qualified for {offer}",
            )
        pairs = [(o.customer_id, o.agent_id) for o in offers]
        expect(
            len({c for c, _ in pairs}) == len(pairs) == len({a for _, a in pairs}),
            f"{what}: a customer or an agent in two offers at once: {pairs}",
        )
        return list(offers)

    def finish(self, pool: list[Offer], what: str) -> None:
        """Every offer the store returned must have been explained by the model's decisions."""
        expect(not pool, f"{what}: offers the model cannot explain: {pool}")

    def take_back(self, offer_id: str, now: float, pool: list[Offer]) -> RefAgent:
        """An offer ends unanswered: the customer keeps their place and is placed again."""
        offer = self.offers.pop(offer_id)
        agent = self.agents[offer.agent_id]
        agent.offer_id = agent.customer_id = None
        # The agent is still marked offered here, so they cannot get the same customer back yet.
        self.place(self.customers[offer.customer_id], now, pool, exclude=agent.agent_id)
        return agent

    def after_miss(self, agent: RefAgent, now: float, pool: list[Offer]) -> None:
        agent.missed += 1
        if agent.missed >= self.config.max_missed_offers:
            agent.state = AgentState.AWAY
        else:
            self.free(agent, now, pool)

    def expire(self, order: Sequence[tuple[str, str]], now: float, pool: list[Offer]) -> None:
        for kind, key in order:
            if kind == "offer":
                agent = self.take_back(key, now, pool)
                self.after_miss(agent, now, pool)
            else:
                self.free(self.agents[key], now, pool)

    def expire_orders(self, now: float) -> list[list[tuple[str, str]]]:
        """Every order of an `expire` call the contract allows."""
        due = sorted(
            (o for o in self.offers.values() if o.expires_at < now), key=lambda o: o.expires_at
        )
        groups = [list(g) for _, g in itertools.groupby(due, key=lambda o: o.expires_at)]
        wraps = sorted(
            (a for a in self.agents.values() if a.wrap_until is not None and a.wrap_until <= now),
            key=lambda a: a.wrap_until or 0.0,
        )
        wrap_events = [("wrap", a.agent_id) for a in wraps]
        orders: list[list[tuple[str, str]]] = []
        # Offers due at the same moment may be taken back in any order.
        for perm in itertools.islice(
            itertools.product(*(itertools.permutations(g) for g in groups)), 24
        ):
            offer_events = [("offer", o.offer_id) for group in perm for o in group]
            times = {("offer", o.offer_id): o.expires_at for group in perm for o in group}
            times.update({("wrap", a.agent_id): a.wrap_until or 0.0 for a in wraps})
            chronological = sorted(offer_events + wrap_events, key=lambda e: times[e])
            for order in (
                offer_events + wrap_events,
                wrap_events + offer_events,
                chronological,
            ):
                if order not in orders:
                    orders.append(order)
        return orders


# --- operations --------------------------------------------------------------------------------

skills_strategy = st.builds(
    Skills.of,
    st.lists(st.sampled_from(CATEGORIES), unique=True, min_size=1, max_size=3),
    st.lists(st.sampled_from(LANGUAGES), unique=True, min_size=1, max_size=2),
    st.integers(0, 2).map(lambda n: n == 0),
)
needs_strategy = st.builds(
    Needs,
    st.sampled_from(CATEGORIES),
    st.sampled_from(LANGUAGES),
    st.integers(0, 3).map(lambda n: n == 0),
)
index = st.integers(0, 63)
#: Negative: one of the customers still waiting, if any; otherwise any customer who ever joined.
customer_index = st.integers(-63, 63)

#: Each kind of event with its arguments; `aimed` (True) points an action at an agent or offer
#: it applies to when there is one, so that calls run their course instead of being refused.
EVENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "join": st.tuples(
        st.just("join"),
        needs_strategy,
        st.integers(0, 3),
        st.integers(0, 3).map(lambda n: n == 0),  # now and then a transfer, to the front
        st.integers(0, 300),  # how long ago a transferred customer first joined
    ),
    "available": st.tuples(st.just("state"), index, st.just(AgentState.AVAILABLE)),
    "step_away": st.tuples(
        st.just("state"), index, st.sampled_from([AgentState.AWAY, AgentState.OFFLINE])
    ),
    # (index, by the wrong agent, aimed at an offer still open)
    "accept": st.tuples(st.just("accept"), index, st.just(False), st.just(True)),
    "accept_any": st.tuples(
        st.just("accept"), index, st.integers(0, 3).map(lambda n: n == 0), st.booleans()
    ),
    "reject": st.tuples(st.just("reject"), index, st.just(False), st.booleans()),
    "end_call": st.tuples(st.just("end_call"), index, st.integers(0, 4).map(lambda n: n > 0)),
    "finish_wrap_up": st.tuples(st.just("finish_wrap_up"), index, st.booleans()),
    "expire": st.tuples(st.just("expire")),
    "leave": st.tuples(st.just("leave"), customer_index),
    "set_priority": st.tuples(st.just("set_priority"), customer_index, st.integers(0, 5)),
    "move": st.tuples(st.just("move"), customer_index, needs_strategy),
    "offer_to": st.tuples(st.just("offer_to"), customer_index, index),
    "register": st.tuples(st.just("register"), skills_strategy),
    "reskill": st.tuples(st.just("reskill"), index, skills_strategy),
    "join_again": st.tuples(st.just("join_again"), index),
}
#: How often each kind comes, relatively: the everyday events (joins, agents coming free,
#: answers, the once-a-second expire) often, so that lines form and calls run their course.
WEIGHTS = {
    "join": 5,
    "available": 3,
    "step_away": 1,
    "accept": 4,
    "accept_any": 1,
    "reject": 1,
    "end_call": 3,
    "finish_wrap_up": 1,
    "expire": 3,
    "leave": 1,
    "set_priority": 2,
    "move": 1,
    "offer_to": 1,
    "register": 1,
    "reskill": 1,
    "join_again": 1,
}
# sampled_from draws near-uniformly (one_of does not), so repetition gives the weights.
operation = st.sampled_from(
    [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]
).flatmap(EVENTS.__getitem__)
#: Seconds between steps: mostly short, sometimes past an offer's timeout or a wrap-up's end,
#: and now and then half a day, so that days (and their counters and calls today) change.
SHORT_TICKS = [0.5, 1, 1, 1, 2, 2, 3, 5, 8, 21, 34]
tick = st.sampled_from([*SHORT_TICKS * 2, DAY / 2])


@dataclass(frozen=True)
class Scenario:
    #: The agents at the start, each with their skills and whether they start available.
    agents: list[tuple[Skills, bool]]
    steps: list[tuple[float, tuple[Any, ...]]]


agents_strategy = st.lists(
    st.tuples(skills_strategy, st.integers(0, 3).map(lambda n: n > 0)), min_size=2, max_size=4
)
scenarios = st.builds(
    Scenario,
    agents_strategy,
    # Long enough for customers to pile up, be answered, time out and be moved around.
    st.lists(st.tuples(tick, operation), min_size=30, max_size=100),
)

MAX_AGENTS = 7


async def attempt(
    call: Awaitable[Any], allowed: set[type[Exception]], what: str
) -> tuple[bool, Any]:
    """Run one store call; (True, result) on success, (False, None) on an allowed refusal."""
    try:
        result = await call
    except (RoutingError, ValueError) as exc:
        expect(
            type(exc) in allowed,
            f"{what}: refused with {type(exc).__name__}: {exc}; expected "
            f"{sorted(e.__name__ for e in allowed) or 'success'}",
        )
        return False, None
    expect(not allowed, f"{what}: succeeded, expected {sorted(e.__name__ for e in allowed)}")
    return True, result


async def step(store: Any, ref: Reference, op: tuple[Any, ...], now: float) -> Reference:
    """Apply one operation to the store and to a copy of the model; the new model, checked."""
    kind = op[0]
    new = ref.clone()
    agents = list(new.agents.values())
    customers = list(new.customers.values())
    what = f"{op} at t={now}"

    def pick_agent(i: int, aimed_at: AgentState | None = None) -> RefAgent | None:
        suitable = [a for a in agents if a.state is aimed_at] or agents
        return suitable[i % len(suitable)] if suitable else None

    def pick_customer(i: int) -> RefCustomer | None:
        suitable = (i < 0 and [c for c in customers if c.status == WAITING]) or customers
        return suitable[i % len(suitable)] if suitable else None

    if kind == "register":
        if len(agents) >= MAX_AGENTS:
            return ref
        agent_id = f"a{len(agents)}"
        # A new agent starts offline: no offer can follow.
        expect(await store.upsert_agent(agent_id, op[1], now) == [], f"{what}: offers")
        new.agents[agent_id] = RefAgent(agent_id, op[1])

    elif kind == "reskill":
        agent = pick_agent(op[1])
        if agent is None:
            return ref
        offers = await store.upsert_agent(agent.agent_id, op[2], now)
        agent.skills = op[2]
        pool = new.screen(offers, what)
        if agent.state is AgentState.AVAILABLE:
            # New skills may cover someone waiting: the agent looks for work as if just free
            # (and, as the memory store does it, counts as idle from now).
            new.free(agent, now, pool)
        new.finish(pool, what)

    elif kind == "state":
        agent = pick_agent(op[1])
        if agent is None:
            return ref
        target: AgentState = op[2]
        allowed: set[type[Exception]] = {AgentBusy} if agent.state is AgentState.ON_CALL else set()
        ok, offers = await attempt(
            store.set_agent_state(agent.agent_id, target, now), allowed, what
        )
        if not ok:
            return ref
        pool = new.screen(offers, what)
        if target is AgentState.AVAILABLE:
            if agent.state not in {AgentState.AVAILABLE, AgentState.OFFERED}:
                agent.missed = 0
                new.free(agent, now, pool)
        else:
            if agent.state is AgentState.OFFERED:
                # Stepping away with an offer open hands the customer on, without a miss.
                new.take_back(agent.offer_id or "", now, pool)
            agent.state, agent.wrap_until = target, None
        new.finish(pool, what)

    elif kind in {"join", "join_again"}:
        if kind == "join":
            _, needs, priority, front, back = op
            customer_id = f"c{len(customers)}"
            enqueued_at = now - back if front else now
            result = await store.join(
                customer_id,
                needs,
                priority,
                now,
                enqueued_at=enqueued_at if front else None,
                front=front,
            )
            customer = RefCustomer(customer_id, needs, priority, enqueued_at, front)
            new.customers[customer_id] = customer
            pool = new.screen([result] if result is not None else [], what)
            new.count(now, needs, "joined")
            new.place(customer, now, pool)
            new.finish(pool, what)
        else:
            active = [c for c in customers if c.status in {WAITING, OFFERED}]
            if not active:
                return ref
            customer = active[op[1] % len(active)]
            await attempt(
                store.join(customer.customer_id, customer.needs, 0, now), {AlreadyQueued}, what
            )
            return ref

    elif kind == "leave":
        customer = pick_customer(op[1])
        if customer is None:
            return ref
        left = await store.leave(customer.customer_id, now)
        pool = new.screen(left.offers, what)
        expect(
            left.abandoned == (customer.status in {WAITING, OFFERED}),
            f"{what}: abandoned={left.abandoned} for a customer who was {customer.status}",
        )
        if customer.status in {WAITING, OFFERED}:
            new.count(now, customer.needs, "abandoned")
            if customer.status == OFFERED:
                offer = new.offers.pop(customer.offer_id or "")
                customer.status = ABANDONED
                # Not the agent's fault: no missed offer, straight back to work.
                new.free(new.agents[offer.agent_id], now, pool)
            customer.status = ABANDONED
        new.finish(pool, what)

    elif kind in {"accept", "reject"}:
        offers = list(new.offers.values())
        if op[3]:
            offers = [o for o in offers if o.expires_at >= now] or offers
        if not offers:
            return ref
        offer = offers[op[1] % len(offers)]
        agent_id = offer.agent_id
        allowed = set()
        if kind == "accept" and op[2] and len(agents) > 1:
            agent_id = next(a.agent_id for a in agents if a.agent_id != offer.agent_id)
            allowed.add(NotYourOffer)
        if offer.expires_at < now:
            # Past its time the offer is gone for the agent even before `expire` takes it back.
            allowed.add(UnknownOffer)
        if kind == "accept":
            ok, answered = await attempt(store.accept(offer.offer_id, agent_id, now), allowed, what)
            if not ok:
                return ref
            customer, agent = new.customers[offer.customer_id], new.agents[agent_id]
            waited = now - customer.enqueued_at
            expect(
                (answered.customer_id, answered.agent_id, answered.needs)
                == (customer.customer_id, agent_id, customer.needs)
                and answered.waited_seconds == pytest.approx(max(0.0, waited)),
                f"{what}: answered {answered}",
            )
            del new.offers[offer.offer_id]
            customer.status, customer.offer_id = ANSWERED, None
            if agent.calls_day != day_number(now):
                agent.calls_day, agent.calls = day_number(now), 0
            agent.state, agent.offer_id, agent.missed = AgentState.ON_CALL, None, 0
            agent.calls += 1
            agent.call_started, agent.call_bucket = now, customer.needs.bucket
            new.count(now, customer.needs, "answered")
            new.count(now, customer.needs, "answer_seconds", max(0.0, waited))
            if max(0.0, waited) <= new.config.threshold_for(customer.needs):
                new.count(now, customer.needs, "answered_in_time")
        else:
            ok, offers = await attempt(store.reject(offer.offer_id, agent_id, now), allowed, what)
            if not ok:
                return ref
            pool = new.screen(offers, what)
            agent = new.take_back(offer.offer_id, now, pool)
            new.after_miss(agent, now, pool)
            new.finish(pool, what)

    elif kind == "end_call":
        agent = pick_agent(op[1], AgentState.ON_CALL if op[2] else None)
        if agent is None:
            return ref
        allowed = set() if agent.state is AgentState.ON_CALL else {AgentBusy}
        ok, offers = await attempt(store.end_call(agent.agent_id, now), allowed, what)
        if not ok:
            return ref
        pool = new.screen(offers, what)
        bucket = Needs.from_bucket(agent.call_bucket or "")
        new.count(now, bucket, "handled")
        new.count(now, bucket, "handle_seconds", now - agent.call_started)
        agent.customer_id = agent.call_bucket = None
        if new.config.wrap_up_seconds <= 0:
            new.free(agent, now, pool)
        else:
            agent.state, agent.wrap_until = AgentState.WRAP_UP, now + new.config.wrap_up_seconds
        new.finish(pool, what)

    elif kind == "finish_wrap_up":
        agent = pick_agent(op[1], AgentState.WRAP_UP if op[2] else None)
        if agent is None:
            return ref
        allowed = set() if agent.state is AgentState.WRAP_UP else {AgentBusy}
        ok, offers = await attempt(store.finish_wrap_up(agent.agent_id, now), allowed, what)
        if not ok:
            return ref
        pool = new.screen(offers, what)
        new.free(agent, now, pool)
        new.finish(pool, what)

    elif kind == "expire":
        offers = await store.expire(now)
        failures: list[str] = []
        for order in new.expire_orders(now):
            candidate, pool = new.clone(), new.screen(offers, what)
            try:
                candidate.expire(order, now, pool)
                candidate.finish(pool, what)
            except Mismatch as exc:
                failures.append(f"order {order}: {exc}")
                continue
            new = candidate
            break
        else:
            raise Mismatch(f"{what}: no allowed order explains the result:\n" + "\n".join(failures))

    elif kind in {"set_priority", "move", "offer_to"}:
        customer = pick_customer(op[1])
        if customer is None:
            return ref
        allowed = {
            ANSWERED: {UnknownCustomer},
            ABANDONED: {UnknownCustomer},
            OFFERED: {CustomerBusy},
            WAITING: set(),
        }[customer.status]
        if kind == "set_priority":
            ok, _ = await attempt(
                store.set_priority(customer.customer_id, op[2], now), allowed, what
            )
            if ok:
                customer.base_priority = op[2]
        elif kind == "move":
            ok, result = await attempt(store.move(customer.customer_id, op[2], now), allowed, what)
            if ok:
                customer.needs = op[2]
                pool = new.screen([result] if result is not None else [], what)
                new.place(customer, now, pool)
                new.finish(pool, what)
        else:
            agent = pick_agent(op[2])
            if agent is None:
                return ref
            if not qualifies(agent.skills, customer.needs):
                allowed = allowed | {NotQualified}
            if agent.state is not AgentState.AVAILABLE:
                allowed = allowed | {AgentBusy}
            ok, offer = await attempt(
                store.offer_to(customer.customer_id, agent.agent_id, now), allowed, what
            )
            if ok:
                expect(
                    (offer.customer_id, offer.agent_id) == (customer.customer_id, agent.agent_id),
                    f"{what}: offered {offer}",
                )
                new.take(offer, [offer], now)
        if not ok:
            return ref
    else:  # pragma: no cover - the strategy makes only the kinds above
        raise AssertionError(kind)
    return new


# --- comparing the store with the model ---------------------------------------------------------


def waiting_by_line(ref: Reference) -> dict[Needs, list[RefCustomer]]:
    lines: dict[Needs, list[RefCustomer]] = defaultdict(list)
    for customer in ref.customers.values():
        if customer.status == WAITING:
            lines[customer.needs].append(customer)
    return lines


def touched_lines(ref: Reference, before: Reference) -> set[Needs]:
    """The lines whose waiting customers (or their priorities) the last step changed."""

    def state(model: Reference) -> set[tuple[str, Needs, int]]:
        return {
            (c.customer_id, c.needs, c.base_priority)
            for c in model.customers.values()
            if c.status == WAITING
        }

    return {needs for _, needs, _ in state(ref) ^ state(before)}


async def check(
    store: Any, ref: Reference, now: float, what: str, before: Reference | None
) -> None:
    """Compare the store with the model. `before`: the model one step earlier, for a light check
    (each line and position is a round trip, most of the run time on Redis); None: everything."""
    snapshot = await store.snapshot(now)
    today = day_number(now)
    by_line = waiting_by_line(ref)

    # Agents: state, what they hold, today's calls and missed offers.
    views = {a.agent_id: a for a in snapshot.agents}
    expect(set(views) == set(ref.agents), f"{what}: agents {sorted(views)}")
    held: list[str] = []
    for agent in ref.agents.values():
        view = views[agent.agent_id]
        expect(
            (view.state, view.customer_id, view.calls_today, view.missed_offers)
            == (agent.state, agent.customer_id, ref.calls_today(agent, now), agent.missed),
            f"{what}: agent {agent.agent_id} is {view}, the model says {agent}",
        )
        if view.customer_id is not None:
            held.append(view.customer_id)
    expect(len(held) == len(set(held)), f"{what}: a customer held by two agents: {held}")

    # Every customer is exactly one of waiting, offered, answered, abandoned.
    for customer in ref.customers.values():
        expect(
            customer.status in {WAITING, OFFERED, ANSWERED, ABANDONED},
            f"{what}: {customer}",
        )
        if customer.status == OFFERED:
            offer = ref.offers[customer.offer_id or ""]
            expect(
                ref.agents[offer.agent_id].customer_id == customer.customer_id,
                f"{what}: offer {offer} not held by its agent",
            )
    offered = [c.customer_id for c in ref.customers.values() if c.status == OFFERED]
    expect(
        sorted(offered) == sorted(o.customer_id for o in ref.offers.values()),
        f"{what}: offered customers {offered} against open offers {list(ref.offers)}",
    )

    # Lines: who waits where, in score order, and the day's counters.
    queues = {q.needs: q for q in snapshot.queues}
    listed_anywhere: list[str] = []
    touched = ref.lines if before is None else touched_lines(ref, before)
    for needs in ref.lines | set(queues):
        waiting = by_line.get(needs, [])
        counters = ref.counters.get((today, needs.bucket), Counter())
        queue = queues.get(needs)
        if needs not in touched or (not waiting and (queue is None or queue.waiting == 0)):
            line = None  # the snapshot's count is checked below
        else:
            line = list(await store.waiting(needs, limit=1000))
        if line is not None:
            check_line(ref, line, waiting, f"{what}: line {needs.bucket}")
            listed_anywhere += [w.customer_id for w in line]
        if queue is None:
            expect(
                not waiting and not any(counters.values()),
                f"{what}: no queue {needs.bucket} in the snapshot, the model has "
                f"{len(waiting)} waiting and {dict(counters)}",
            )
            continue
        oldest = min((c.enqueued_at for c in waiting), default=None)
        got = (
            queue.waiting,
            queue.joined,
            queue.answered,
            queue.answered_in_time,
            queue.abandoned,
            queue.longest_wait_seconds,
        )
        wanted = (
            len(waiting),
            counters["joined"],
            counters["answered"],
            counters["answered_in_time"],
            counters["abandoned"],
            0.0 if oldest is None else max(0.0, now - oldest),
        )
        expect(got == wanted, f"{what}: queue {needs.bucket} {got}, the model says {wanted}")
        handled = counters["handled"]
        expect(
            queue.average_handle_seconds
            == (pytest.approx(counters["handle_seconds"] / handled) if handled else None),
            f"{what}: average handle {queue.average_handle_seconds} in {needs.bucket}",
        )
    expect(
        len(listed_anywhere) == len(set(listed_anywhere)),
        f"{what}: a customer in two lines: {listed_anywhere}",
    )

    # Positions: waiting customers by score in their line, offered at 0, the others gone.
    if before is not None:
        return
    for customer in ref.customers.values():
        if customer.customer_id in ref.seen_gone:
            continue
        position = await store.position(customer.customer_id, now)
        if customer.status in {ANSWERED, ABANDONED}:
            expect(position is None, f"{what}: {customer.customer_id} gone but at {position}")
            ref.seen_gone.add(customer.customer_id)
            continue
        expect(position is not None, f"{what}: {customer.customer_id} has no position")
        if customer.status == OFFERED:
            expect(
                position.offered and position.position == 0,
                f"{what}: offered {customer.customer_id} at {position}",
            )
            continue
        own = ref.score(customer)
        line = by_line[customer.needs]
        ahead = sum(ref.score(c) < own for c in line)
        tied = sum(ref.score(c) == own for c in line) - 1
        expect(
            not position.offered and ahead + 1 <= position.position <= ahead + tied + 1,
            f"{what}: {customer.customer_id} at {position}, {ahead} ahead and {tied} tied",
        )
        staffed = sum(
            a.state in STAFFED_STATES and qualifies(a.skills, customer.needs)
            for a in ref.agents.values()
        )
        counters = ref.counters.get((today, customer.needs.bucket), Counter())
        handle = (
            counters["handle_seconds"] / counters["handled"]
            if counters["handled"]
            else ref.config.default_handle_seconds
        )
        wait = estimated_wait(position.position, staffed, handle)
        expect(
            position.estimated_wait_seconds == (None if wait is None else pytest.approx(wait)),
            f"{what}: {customer.customer_id} estimated {position.estimated_wait_seconds}, "
            f"the model says {wait} ({staffed} staffed)",
        )


def check_line(ref: Reference, line: list[Any], waiting: list[RefCustomer], what: str) -> None:
    ids = [w.customer_id for w in line]
    expect(
        sorted(ids) == sorted(c.customer_id for c in waiting),
        f"{what} holds {ids}, the model says {sorted(c.customer_id for c in waiting)}",
    )
    scores = [ref.score(ref.customers[i]) for i in ids]
    expect(scores == sorted(scores), f"{what} is out of order: {ids}")
    for view in line:
        customer = ref.customers[view.customer_id]
        expect(
            (view.needs, view.base_priority, view.enqueued_at)
            == (customer.needs, customer.base_priority, customer.enqueued_at),
            f"{what}: {view} against {customer}",
        )


async def run(store: Any, config: RoutingConfig, scenario: Scenario, start: float) -> None:
    ref = Reference(config)
    now = start
    for n, (skills, available) in enumerate(scenario.agents):
        await store.upsert_agent(f"a{n}", skills, now)
        ref.agents[f"a{n}"] = RefAgent(f"a{n}", skills)
        if available:
            # Nobody waits yet, so no offer can follow.
            expect(await store.set_agent_state(f"a{n}", AgentState.AVAILABLE, now) == [], "offer")
            ref.agents[f"a{n}"].state, ref.agents[f"a{n}"].idle_since = AgentState.AVAILABLE, now
        now += 1
    await check(store, ref, now, "after registering", None)
    for n, (dt, op) in enumerate(scenario.steps, start=1):
        now += dt
        before, ref = ref, await step(store, ref, op, now)
        # Everything every eighth step and at the end; the snapshot and touched lines always.
        full = n % 8 == 0 or n == len(scenario.steps)
        await check(store, ref, now, f"after {op} at t={now}", None if full else before)


PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    # One store per example, made through the fixture's factory, so nothing leaks between them.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LONGEST_IDLE = RoutingConfig(
    offer_timeout=20, wrap_up_seconds=30, max_missed_offers=2, priority_step_seconds=20
)
LEAST_BUSY = RoutingConfig(
    offer_timeout=10,
    wrap_up_seconds=0,
    max_missed_offers=1,
    priority_step_seconds=45,
    agent_choice=AgentChoice.LEAST_BUSY,
)


@PROPERTY_SETTINGS
@given(scenario=scenarios)
async def test_invariants_with_longest_idle_and_wrap_up_across_midnight(
    store_factory: StoreFactory, scenario: Scenario
) -> None:
    # Starting shortly before midnight, most runs see the day's counters restart.
    await run(await store_factory(LONGEST_IDLE), LONGEST_IDLE, scenario, start=DAY - 200)


@PROPERTY_SETTINGS
@given(scenario=scenarios)
async def test_invariants_with_least_busy_and_no_wrap_up_across_midnight(
    store_factory: StoreFactory, scenario: Scenario
) -> None:
    # Across midnight too: an agent idle since yesterday is ranked by today's calls (none).
    await run(await store_factory(LEAST_BUSY), LEAST_BUSY, scenario, start=DAY - 200)


# --- regressions: defects the properties found in the in-memory store, now fixed ---------------

PENSIONS_AR = Needs("pensions", "ar")
ARABIC_PENSIONS = Skills.of(["pensions"], ["ar"])


async def test_least_busy_counts_only_todays_calls(store_factory: StoreFactory) -> None:
    store = await store_factory(
        RoutingConfig(agent_choice=AgentChoice.LEAST_BUSY, wrap_up_seconds=0)
    )
    for agent_id in ("busy", "other"):
        await store.upsert_agent(agent_id, ARABIC_PENSIONS, 0)
    # Yesterday "busy" took two calls and "other" one.
    for n, agent_id in enumerate(["busy", "busy", "other"]):
        await store.join(f"y{n}", PENSIONS_AR, 0, 10 + n)
        [offer] = await store.set_agent_state(agent_id, AgentState.AVAILABLE, 10 + n)
        await store.accept(offer.offer_id, agent_id, 10 + n)
        await store.end_call(agent_id, 20 + n)
        await store.set_agent_state(agent_id, AgentState.AWAY, 20 + n)
    # Today neither has taken a call, and "busy" has been free longer: "busy" is next.
    await store.set_agent_state("busy", AgentState.AVAILABLE, DAY + 100)
    await store.set_agent_state("other", AgentState.AVAILABLE, DAY + 200)
    assert {a.agent_id: a.calls_today for a in (await store.snapshot(DAY + 300)).agents} == {
        "busy": 0,
        "other": 0,
    }
    offer = await store.join("today", PENSIONS_AR, 0, DAY + 300)
    assert offer is not None and offer.agent_id == "busy"


async def test_new_skills_reach_customers_already_waiting(store_factory: StoreFactory) -> None:
    store = await store_factory(RoutingConfig())
    await store.upsert_agent("a", Skills.of(["pensions"], ["en"]), 0)
    await store.set_agent_state("a", AgentState.AVAILABLE, 0)
    await store.join("waiting", PENSIONS_AR, 0, 1)
    # Before the fix the agent sat idle beside "waiting", and the next newcomer jumped ahead.
    offers = await store.upsert_agent("a", Skills.of(["pensions"], ["ar", "en"]), 2)
    assert [(o.customer_id, o.agent_id) for o in offers] == [("waiting", "a")]
    assert await store.join("newcomer", PENSIONS_AR, 0, 3) is None


async def _veteran_idle_since_yesterday(store_factory: StoreFactory) -> Any:
    """Least busy, no wrap-up. Yesterday the veteran took a call and has been free since, into
    today; the newcomer came in today at DAY + 50 and has taken none."""
    store = await store_factory(
        RoutingConfig(agent_choice=AgentChoice.LEAST_BUSY, wrap_up_seconds=0)
    )
    for agent_id in ("veteran", "newcomer"):
        await store.upsert_agent(agent_id, ARABIC_PENSIONS, 0)
    await store.join("yesterday", PENSIONS_AR, 0, 100)
    [offer] = await store.set_agent_state("veteran", AgentState.AVAILABLE, 100)
    await store.accept(offer.offer_id, "veteran", 101)
    assert await store.end_call("veteran", 110) == []
    await store.set_agent_state("newcomer", AgentState.AVAILABLE, DAY + 50)
    return store


async def test_least_busy_forgets_yesterday_for_an_agent_idle_across_midnight(
    store_factory: StoreFactory,
) -> None:
    store = await _veteran_idle_since_yesterday(store_factory)
    calls = {a.agent_id: a.calls_today for a in (await store.snapshot(DAY + 100)).agents}
    assert calls == {"veteran": 0, "newcomer": 0}
    # No calls today for either; the veteran has been free longer, so the veteran is next.
    offer = await store.join("today", PENSIONS_AR, 0, DAY + 100)
    assert offer is not None and offer.agent_id == "veteran"


async def test_least_busy_ranks_stand_when_a_process_a_moment_behind_asks(
    store_factory: StoreFactory,
) -> None:
    """Processes' clocks differ a little: after midnight one may still send yesterday's time.
    The new day's ranks stand; before, the Redis store re-ranked back to yesterday."""
    store = await _veteran_idle_since_yesterday(store_factory)
    # Today's first choice (a line nobody here serves) ranks both with no calls today.
    assert await store.join("medical", Needs("medical", "ar"), 0, DAY + 100) is None
    # A process whose clock is a second behind midnight asks next.
    offer = await store.join("late", PENSIONS_AR, 0, DAY - 1)
    assert offer is not None and offer.agent_id == "veteran"
