"""The in-memory routing store: the embedded default for one process, and the reference behaviour
the Redis store must match (the contract tests run the same scenarios on both).

Data shapes mirror the Redis store's: per bucket, a sorted line of waiting customers and a sorted
set of available qualified agents; each decision touches a handful of buckets, never the whole queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from sortedcontainers import SortedList

from vbranch_queue.core.model import (
    SETTABLE_STATES,
    AgentChoice,
    AgentState,
    Answered,
    Needs,
    Offer,
    Position,
    RoutingConfig,
    Skills,
    qualifies,
)
from vbranch_queue.core.priority import idle_score, queue_score
from vbranch_queue.core.stats import (
    STAFFED_STATES,
    day_number,
    estimated_wait,
    queue_stats,
)
from vbranch_queue.errors import (
    AgentBusy,
    AlreadyQueued,
    CustomerBusy,
    NotQualified,
    NotYourOffer,
    UnknownAgent,
    UnknownCustomer,
    UnknownOffer,
)
from vbranch_queue.store import AgentView, Left, Snapshot, WaitingView


@dataclass
class _Customer:
    customer_id: str
    needs: Needs
    base_priority: int
    enqueued_at: float
    score: float
    front: bool = False
    offer_id: str | None = None


@dataclass
class _Agent:
    agent_id: str
    skills: Skills
    state: AgentState = AgentState.OFFLINE
    state_since: float = 0.0
    idle_since: float = 0.0
    missed_offers: int = 0
    calls_day: int = -1
    calls_today: int = 0
    offer_id: str | None = None
    customer_id: str | None = None
    call_started_at: float = 0.0
    call_bucket: str | None = None
    wrap_until: float = 0.0


@dataclass
class _OfferRecord:
    offer: Offer
    customer: _Customer


@dataclass
class _Bucket:
    needs: Needs
    line: SortedList = field(default_factory=SortedList)  # (score, customer_id)
    arrivals: SortedList = field(default_factory=SortedList)  # (enqueued_at, customer_id)
    idle: SortedList = field(default_factory=SortedList)  # (idle score, agent_id)
    #: Qualified agents at work (available, offered, on a call, wrapping up): for the estimated wait.
    staffed: int = 0


class MemoryRoutingStore:
    def __init__(
        self,
        config: RoutingConfig | None = None,
        utc_offset_seconds: float = 0,
        *,
        zone: tzinfo | None = None,
    ) -> None:
        self.config = config or RoutingConfig()
        #: Where the day's counters restart: the contact center's time zone, else a UTC offset.
        self._day_starts: float | tzinfo = zone if zone is not None else utc_offset_seconds
        self._buckets: dict[str, _Bucket] = {}
        self._customers: dict[str, _Customer] = {}
        self._agents: dict[str, _Agent] = {}
        self._offers: dict[str, _OfferRecord] = {}
        self._offer_deadlines: SortedList = SortedList()  # (expires_at, offer_id)
        self._wrap_ups: SortedList = SortedList()  # (wrap_until, agent_id)
        self._counters: dict[tuple[int, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self._sequence = 0
        #: The day the idle sets' least-busy ranks count calls of (see `_new_day`).
        self._ranked_day: int | None = None

    # --- internals -----------------------------------------------------------------------

    def _bucket(self, needs: Needs) -> _Bucket:
        bucket = self._buckets.get(needs.bucket)
        if bucket is None:
            bucket = self._buckets[needs.bucket] = _Bucket(needs)
            # A line seen for the first time (rare): index the agents who already qualify for it.
            for agent in self._agents.values():
                if qualifies(agent.skills, needs):
                    bucket.staffed += agent.state in STAFFED_STATES
                    if agent.state is AgentState.AVAILABLE:
                        bucket.idle.add((self._idle_score(agent), agent.agent_id))
        return bucket

    def _count(self, now: float, bucket: str, counter: str, amount: float = 1) -> None:
        self._counters[(day_number(now, self._day_starts), bucket)][counter] += amount

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(f"no agent {agent_id}")
        return agent

    def _idle_score(self, agent: _Agent) -> float:
        least_busy = self.config.agent_choice is AgentChoice.LEAST_BUSY
        return idle_score(agent.idle_since, agent.calls_today, least_busy)

    def _set_state(self, agent: _Agent, state: AgentState, now: float) -> None:
        if agent.state is AgentState.AVAILABLE:
            self._leave_idle_sets(agent)
        change = (state in STAFFED_STATES) - (agent.state in STAFFED_STATES)
        if change:
            self._restaff(agent.skills, change)
        agent.state, agent.state_since = state, now

    def _restaff(self, skills: Skills, change: int) -> None:
        for bucket in self._buckets.values():
            if qualifies(skills, bucket.needs):
                bucket.staffed += change

    def _leave_idle_sets(self, agent: _Agent) -> None:
        entry = (self._idle_score(agent), agent.agent_id)
        for bucket in self._buckets.values():
            bucket.idle.discard(entry)

    def _make_available(self, agent: _Agent, now: float) -> list[Offer]:
        """An agent free for work: the best waiting customer they qualify for, or the idle sets."""
        self._set_state(agent, AgentState.AVAILABLE, now)
        agent.idle_since = now
        self._roll_day(agent, now)  # least-busy counts today's calls, not the last working day's
        best: tuple[float, str] | None = None
        for bucket in self._buckets.values():
            if bucket.line and qualifies(agent.skills, bucket.needs):
                head = bucket.line[0]
                if best is None or head < best:
                    best = head
        if best is not None:
            return [self._offer(self._customers[best[1]], agent, now)]
        entry = (self._idle_score(agent), agent.agent_id)
        for bucket in self._buckets.values():
            if qualifies(agent.skills, bucket.needs):
                bucket.idle.add(entry)
        return []

    def _offer(self, customer: _Customer, agent: _Agent, now: float) -> Offer:
        bucket = self._buckets[customer.needs.bucket]
        bucket.line.discard((customer.score, customer.customer_id))
        bucket.arrivals.discard((customer.enqueued_at, customer.customer_id))
        self._set_state(agent, AgentState.OFFERED, now)
        self._sequence += 1
        offer = Offer(
            offer_id=f"o{self._sequence}",
            customer_id=customer.customer_id,
            agent_id=agent.agent_id,
            needs=customer.needs,
            expires_at=now + self.config.offer_timeout,
            enqueued_at=customer.enqueued_at,
        )
        customer.offer_id = agent.offer_id = offer.offer_id
        agent.customer_id = customer.customer_id
        self._offers[offer.offer_id] = _OfferRecord(offer, customer)
        self._offer_deadlines.add((offer.expires_at, offer.offer_id))
        return offer

    def _new_day(self, now: float) -> None:
        """Least-busy ranks an idle agent by today's calls, but the rank is written when they
        become available. So before the first choice of a new day, the agents still idle since an
        earlier one are ranked again with no calls: yesterday's calls stop counting at midnight,
        not at the agent's next call. Every agent once a day; nothing on other days."""
        if self.config.agent_choice is not AgentChoice.LEAST_BUSY:
            return
        today = day_number(now, self._day_starts)
        if self._ranked_day is not None and today <= self._ranked_day:
            return  # forward only, as the Redis store (whose processes' clocks may differ)
        self._ranked_day = today
        for agent in self._agents.values():
            if agent.state is AgentState.AVAILABLE and agent.calls_day != today:
                self._leave_idle_sets(agent)
                self._roll_day(agent, now)
                entry = (self._idle_score(agent), agent.agent_id)
                for bucket in self._buckets.values():
                    if qualifies(agent.skills, bucket.needs):
                        bucket.idle.add(entry)

    def _place(self, customer: _Customer, now: float, exclude: str | None = None) -> Offer | None:
        """Offer to the best available qualified agent, or put in line at the customer's score."""
        bucket = self._bucket(customer.needs)
        self._new_day(now)
        for _, agent_id in bucket.idle:
            if agent_id != exclude:
                return self._offer(customer, self._agents[agent_id], now)
        bucket.line.add((customer.score, customer.customer_id))
        bucket.arrivals.add((customer.enqueued_at, customer.customer_id))
        return None

    def _take_back(self, record: _OfferRecord, now: float) -> tuple[_Agent, list[Offer]]:
        """An offer ends unanswered: the customer keeps their place, the agent counts a miss."""
        offer = record.offer
        del self._offers[offer.offer_id]
        self._offer_deadlines.discard((offer.expires_at, offer.offer_id))
        agent = self._agents[offer.agent_id]
        agent.offer_id = agent.customer_id = None
        record.customer.offer_id = None
        offers = []
        placed = self._place(record.customer, now, exclude=agent.agent_id)
        if placed is not None:
            offers.append(placed)
        return agent, offers

    def _after_miss(self, agent: _Agent, now: float) -> list[Offer]:
        agent.missed_offers += 1
        if agent.missed_offers >= self.config.max_missed_offers:
            self._set_state(agent, AgentState.AWAY, now)
            return []
        return self._make_available(agent, now)

    def _offer_for(self, offer_id: str, agent_id: str, now: float) -> _OfferRecord:
        record = self._offers.get(offer_id)
        if record is None or record.offer.expires_at < now:
            raise UnknownOffer(f"offer {offer_id} is no longer open")
        if record.offer.agent_id != agent_id:
            raise NotYourOffer(f"offer {offer_id} was made to another agent")
        return record

    def _waiting_customer(self, customer_id: str) -> _Customer:
        customer = self._customers.get(customer_id)
        if customer is None:
            raise UnknownCustomer(f"customer {customer_id} is not in line")
        if customer.offer_id is not None:
            raise CustomerBusy(f"customer {customer_id} is being offered to an agent")
        return customer

    def _remove_from_line(self, customer: _Customer) -> None:
        bucket = self._buckets[customer.needs.bucket]
        bucket.line.discard((customer.score, customer.customer_id))
        bucket.arrivals.discard((customer.enqueued_at, customer.customer_id))

    def _roll_day(self, agent: _Agent, now: float) -> None:
        today = day_number(now, self._day_starts)
        if agent.calls_day != today:
            agent.calls_day, agent.calls_today = today, 0

    # --- the contract ---------------------------------------------------------------------

    async def upsert_agent(self, agent_id: str, skills: Skills, now: float) -> list[Offer]:
        agent = self._agents.get(agent_id)
        if agent is None:
            self._agents[agent_id] = _Agent(agent_id, skills, state_since=now)
            return []
        if agent.state in STAFFED_STATES:
            self._restaff(agent.skills, -1)
            self._restaff(skills, +1)
        if agent.state is not AgentState.AVAILABLE:
            agent.skills = skills
            return []
        self._leave_idle_sets(agent)
        agent.skills = skills
        # New skills may cover someone already waiting: look for work as if just become available.
        return self._make_available(agent, now)

    async def set_agent_state(self, agent_id: str, state: AgentState, now: float) -> list[Offer]:
        if state not in SETTABLE_STATES:
            raise ValueError(f"{state} cannot be set directly")
        agent = self._agent(agent_id)
        if agent.state is AgentState.ON_CALL:
            raise AgentBusy(f"agent {agent_id} is on a call")
        if state is AgentState.AVAILABLE:
            if agent.state in {AgentState.AVAILABLE, AgentState.OFFERED}:
                return []  # already working
            if agent.state is AgentState.WRAP_UP:
                self._wrap_ups.discard((agent.wrap_until, agent_id))
            agent.missed_offers = 0
            return self._make_available(agent, now)
        offers: list[Offer] = []
        if agent.state is AgentState.OFFERED:
            # Stepping away with an offer open hands the customer on; it is not a missed offer.
            _, offers = self._take_back(self._offers[agent.offer_id or ""], now)
        elif agent.state is AgentState.WRAP_UP:
            self._wrap_ups.discard((agent.wrap_until, agent_id))
        self._set_state(agent, state, now)
        return offers

    async def join(
        self,
        customer_id: str,
        needs: Needs,
        base_priority: int,
        now: float,
        *,
        enqueued_at: float | None = None,
        front: bool = False,
    ) -> Offer | None:
        if customer_id in self._customers:
            raise AlreadyQueued(f"customer {customer_id} is already in line")
        since = now if enqueued_at is None else enqueued_at
        step = self.config.priority_step_seconds
        customer = _Customer(
            customer_id,
            needs,
            base_priority,
            since,
            queue_score(since, base_priority, step, front),
            front,
        )
        self._customers[customer_id] = customer
        self._count(now, needs.bucket, "joined")
        return self._place(customer, now)

    async def leave(self, customer_id: str, now: float) -> Left:
        customer = self._customers.pop(customer_id, None)
        if customer is None:
            return Left(abandoned=False, offers=[])
        self._count(now, customer.needs.bucket, "abandoned")
        if customer.offer_id is None:
            self._remove_from_line(customer)
            return Left(abandoned=True, offers=[])
        record = self._offers.pop(customer.offer_id)
        self._offer_deadlines.discard((record.offer.expires_at, record.offer.offer_id))
        agent = self._agents[record.offer.agent_id]
        agent.offer_id = agent.customer_id = None
        # Not the agent's fault: no missed offer, straight back to work.
        return Left(abandoned=True, offers=self._make_available(agent, now))

    async def accept(self, offer_id: str, agent_id: str, now: float) -> Answered:
        record = self._offer_for(offer_id, agent_id, now)
        offer, customer = record.offer, record.customer
        del self._offers[offer_id]
        self._offer_deadlines.discard((offer.expires_at, offer_id))
        del self._customers[customer.customer_id]
        agent = self._agents[agent_id]
        self._set_state(agent, AgentState.ON_CALL, now)
        agent.offer_id, agent.missed_offers = None, 0
        agent.call_started_at, agent.call_bucket = now, offer.needs.bucket
        self._roll_day(agent, now)
        agent.calls_today += 1
        waited = max(0.0, now - customer.enqueued_at)
        bucket = offer.needs.bucket
        self._count(now, bucket, "answered")
        self._count(now, bucket, "answer_seconds", waited)
        if waited <= self.config.threshold_for(offer.needs):
            self._count(now, bucket, "answered_in_time")
        return Answered(customer.customer_id, agent_id, offer.needs, waited)

    async def reject(self, offer_id: str, agent_id: str, now: float) -> list[Offer]:
        record = self._offer_for(offer_id, agent_id, now)
        agent, offers = self._take_back(record, now)
        return offers + self._after_miss(agent, now)

    async def end_call(self, agent_id: str, now: float) -> list[Offer]:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            raise AgentBusy(f"agent {agent_id} is not on a call")
        if agent.call_bucket is not None:
            self._count(now, agent.call_bucket, "handled")
            self._count(now, agent.call_bucket, "handle_seconds", now - agent.call_started_at)
        agent.customer_id = agent.call_bucket = None
        if self.config.wrap_up_seconds <= 0:
            return self._make_available(agent, now)
        self._set_state(agent, AgentState.WRAP_UP, now)
        agent.wrap_until = now + self.config.wrap_up_seconds
        self._wrap_ups.add((agent.wrap_until, agent_id))
        return []

    async def finish_wrap_up(self, agent_id: str, now: float) -> list[Offer]:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise AgentBusy(f"agent {agent_id} is not in wrap-up")
        self._wrap_ups.discard((agent.wrap_until, agent_id))
        return self._make_available(agent, now)

    async def expire(self, now: float) -> list[Offer]:
        offers: list[Offer] = []
        while self._offer_deadlines and self._offer_deadlines[0][0] < now:
            _, offer_id = self._offer_deadlines[0]
            agent, placed = self._take_back(self._offers[offer_id], now)
            offers += placed + self._after_miss(agent, now)
        while self._wrap_ups and self._wrap_ups[0][0] <= now:
            _, agent_id = self._wrap_ups.pop(0)
            offers += self._make_available(self._agents[agent_id], now)
        return offers

    async def position(self, customer_id: str, now: float) -> Position | None:
        customer = self._customers.get(customer_id)
        if customer is None:
            return None
        if customer.offer_id is not None:
            return Position(customer_id, 0, 0.0, offered=True)
        bucket = self._buckets[customer.needs.bucket]
        ahead = bucket.line.bisect_left((customer.score, customer_id))
        staffed = bucket.staffed
        counters = self._counters[(day_number(now, self._day_starts), customer.needs.bucket)]
        handled = counters.get("handled", 0)
        handle = (
            counters["handle_seconds"] / handled if handled else self.config.default_handle_seconds
        )
        return Position(
            customer_id, ahead + 1, estimated_wait(ahead + 1, staffed, handle), offered=False
        )

    async def snapshot(self, now: float) -> Snapshot:
        today = day_number(now, self._day_starts)
        queues = [
            queue_stats(
                bucket.needs,
                len(bucket.line),
                bucket.arrivals[0][0] if bucket.arrivals else None,
                self._counters.get((today, key), {}),
                now,
            )
            for key, bucket in sorted(self._buckets.items())
        ]
        agents = [
            AgentView(
                a.agent_id,
                a.state,
                a.state_since,
                a.skills,
                a.customer_id,
                a.calls_today if a.calls_day == today else 0,
                a.missed_offers,
            )
            for _, a in sorted(self._agents.items())
        ]
        return Snapshot(queues, agents)

    async def waiting(self, needs: Needs, limit: int = 50) -> Sequence[WaitingView]:
        bucket = self._buckets.get(needs.bucket)
        if bucket is None:
            return []
        return [
            WaitingView(c.customer_id, c.needs, c.base_priority, c.enqueued_at, None)
            for c in (self._customers[cid] for _, cid in bucket.line[:limit])
        ]

    async def set_priority(self, customer_id: str, base_priority: int, now: float) -> None:
        customer = self._waiting_customer(customer_id)
        self._remove_from_line(customer)
        customer.base_priority = base_priority
        customer.score = queue_score(
            customer.enqueued_at, base_priority, self.config.priority_step_seconds, customer.front
        )
        # No agent can be free for this line (they would have been offered it), so no offer here.
        bucket = self._buckets[customer.needs.bucket]
        bucket.line.add((customer.score, customer.customer_id))
        bucket.arrivals.add((customer.enqueued_at, customer.customer_id))

    async def move(self, customer_id: str, needs: Needs, now: float) -> Offer | None:
        customer = self._waiting_customer(customer_id)
        self._remove_from_line(customer)
        customer.needs = needs
        return self._place(customer, now)

    async def offer_to(self, customer_id: str, agent_id: str, now: float) -> Offer:
        customer = self._waiting_customer(customer_id)
        agent = self._agent(agent_id)
        if not qualifies(agent.skills, customer.needs):
            raise NotQualified(f"agent {agent_id} does not cover {customer.needs.bucket}")
        if agent.state is not AgentState.AVAILABLE:
            raise AgentBusy(f"agent {agent_id} is {agent.state}")
        return self._offer(customer, agent, now)
