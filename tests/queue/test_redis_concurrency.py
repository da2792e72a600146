"""Several processes share one Redis queue: nobody is served twice, lost, or offered wrongly.

Four worker processes (spawned) drive one store for about ten seconds: 3,000 customers join six
lines (two of them sign language) and some give up; forty agents, each driven by exactly one
worker, go available, accept, reject, ignore offers until `expire` takes them back, end calls,
finish wrap-up early or let it run out, and step away. Offers reach their agent's worker through
a per-agent mailbox, as the notification would. Every worker logs each store call it makes and
its result (RPUSH, JSON); afterwards the test empties the agents' hands and replays the log.

Workers race, so the log has no trustworthy global order. What the checks rely on instead:
- offer numbers ("o17" -> 17) are handed out in the order the store made the offers;
- each agent's own calls come from one task, in order (`i`, the worker's log counter);
- `floor`, logged with each agent call, is the highest offer number that worker had seen before
  the call started: every offer numbered up to it was made before that call.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import multiprocessing
import random
import runpy
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest
from redis.asyncio import Redis

from vbranch_queue.core.model import AgentState, Needs, Offer, RoutingConfig, Skills, qualifies
from vbranch_queue.errors import RoutingError
from vbranch_queue.redis_store import RedisRoutingStore

pytestmark = pytest.mark.redis

WORKERS = 4
CUSTOMERS = 3000
AGENTS = [f"a{n:02d}" for n in range(40)]
ARRIVAL_SECONDS = 10.0  # real seconds over which the customers arrive
DRAIN_SECONDS = 2.0  # agents keep working a little after the last arrival
#: The synthetic clock all processes share: 10 store seconds per real second, within one day.
SPEED = 10.0
BASE = 86_400 * 20_000 + 8 * 3600.0
CONFIG = RoutingConfig(offer_timeout=3, wrap_up_seconds=2, max_missed_offers=3)
LINES = [
    (Needs("pensions", "ar"), 24),
    (Needs("pensions", "en"), 20),
    (Needs("medical", "ar"), 20),
    (Needs("medical", "en"), 20),
    (Needs("pensions", "ar", sign_language=True), 8),
    (Needs("medical", "ar", sign_language=True), 8),
]
SKILL_SETS = [
    Skills.of(["pensions", "medical"], ["ar", "en"]),
    Skills.of(["pensions"], ["ar"]),
    Skills.of(["medical"], ["ar", "en"]),
    Skills.of(["pensions", "medical"], ["en"]),
    Skills.of(["pensions", "medical"], ["ar"], sign_language=True),
    Skills.of(["pensions"], ["ar", "en"], sign_language=True),
]


def skills_of(agent_id: str) -> Skills:
    return SKILL_SETS[int(agent_id[1:]) % len(SKILL_SETS)]


def owner_of(agent_id: str) -> int:
    return int(agent_id[1:]) % WORKERS


def number(offer_id: str) -> int:
    return int(offer_id[1:])


# --- one worker process ----------------------------------------------------------------------


class Worker:
    def __init__(self, url: str, prefix: str, worker: int, origin: float) -> None:
        self.client = Redis.from_url(url, decode_responses=True)
        self.store = RedisRoutingStore(self.client, CONFIG, prefix=prefix + "q:")
        self.prefix, self.worker, self.origin = prefix, worker, origin
        self.rng = random.Random(worker)
        self.seen = 0  # the highest offer number this process has observed
        self.entries: list[str] = []
        self.count = 0
        self.leaving: list[tuple[float, str]] = []
        self.started = time.time()
        self.stop_at = self.started + ARRIVAL_SECONDS + DRAIN_SECONDS

    def now(self) -> float:
        return BASE + (time.time() - self.origin) * SPEED

    def log(self, event: str, **fields: Any) -> None:
        self.count += 1
        self.entries.append(json.dumps({"e": event, "w": self.worker, "i": self.count, **fields}))

    async def flush(self) -> None:
        entries, self.entries = self.entries, []
        if entries:
            await self.client.rpush(self.prefix + "log", *entries)

    def saw(self, offer_id: str) -> None:
        self.seen = max(self.seen, number(offer_id))

    async def offered(self, offers: list[Offer], by: str) -> None:
        for offer in offers:
            self.saw(offer.offer_id)
            self.log(
                "offer",
                o=offer.offer_id,
                c=offer.customer_id,
                a=offer.agent_id,
                b=offer.needs.bucket,
                by=by,
            )
            await self.client.rpush(f"{self.prefix}mailbox:{offer.agent_id}", offer.offer_id)

    async def run(self) -> None:
        try:
            mine = [a for a in AGENTS if owner_of(a) == self.worker]
            await asyncio.gather(
                self.customers(),
                self.leaver(),
                self.expirer(),
                self.flusher(),
                *(self.agent(a) for a in mine),
            )
        finally:
            await self.flush()
            await self.client.aclose()

    async def customers(self) -> None:
        needs, weights = zip(*LINES, strict=True)
        for k in range(self.worker, CUSTOMERS, WORKERS):
            await asyncio.sleep(
                max(0.0, self.started + k * ARRIVAL_SECONDS / CUSTOMERS - time.time())
            )
            customer_id = f"c{k}"
            [chosen] = self.rng.choices(needs, weights)
            priority = self.rng.choice([0, 0, 0, 1])
            offer = await self.store.join(customer_id, chosen, priority, self.now())
            self.log("join", c=customer_id, b=chosen.bucket)
            await self.offered([offer] if offer else [], "join")
            if self.rng.random() < 0.3:
                patience = self.rng.uniform(0.1, 1.5)
                heapq.heappush(self.leaving, (time.time() + patience, customer_id))

    async def leaver(self) -> None:
        while time.time() < self.stop_at:
            if not (self.leaving and self.leaving[0][0] <= time.time()):
                await asyncio.sleep(0.01)
                continue
            _, customer_id = heapq.heappop(self.leaving)
            left = await self.store.leave(customer_id, self.now())
            self.log("leave", c=customer_id, abandoned=left.abandoned)
            await self.offered(left.offers, "leave")

    async def expirer(self) -> None:
        while time.time() < self.stop_at:
            await self.offered(await self.store.expire(self.now()), "expire")
            await asyncio.sleep(0.05)

    async def flusher(self) -> None:
        while time.time() < self.stop_at:
            await asyncio.sleep(0.2)
            await self.flush()

    # An agent's calls, each logged with its result and the floor (see the module docstring).

    async def act(self, agent_id: str, event: str, call: Any, **fields: Any) -> Any:
        floor = self.seen
        try:
            result = await call
        except RoutingError as exc:
            self.log(event, a=agent_id, ok=False, error=exc.code, floor=floor, **fields)
            return None
        return floor, result

    async def accept(self, agent_id: str, offer_id: str) -> bool:
        done = await self.act(
            agent_id, "accept", self.store.accept(offer_id, agent_id, self.now()), o=offer_id
        )
        if done is not None:
            floor, answered = done
            self.log(
                "accept",
                a=agent_id,
                ok=True,
                floor=floor,
                o=offer_id,
                c=answered.customer_id,
                b=answered.needs.bucket,
            )
        return done is not None

    async def simple(self, agent_id: str, event: str, call: Any, **fields: Any) -> None:
        """A call that returns offers: reject, end_call, finish_wrap_up, set_agent_state."""
        done = await self.act(agent_id, event, call, **fields)
        if done is not None:
            floor, offers = done
            self.log(event, a=agent_id, ok=True, floor=floor, **fields)
            await self.offered(offers, event)

    async def set_state(self, agent_id: str, state: AgentState) -> None:
        call = self.store.set_agent_state(agent_id, state, self.now())
        await self.simple(agent_id, "state", call, s=state.value)

    async def next_offer(self, mailbox: str, wait: float) -> str | None:
        popped = await self.client.blpop([mailbox], timeout=max(0.01, wait))
        if popped is None:
            return None
        self.saw(popped[1])
        return str(popped[1])

    async def agent(self, agent_id: str) -> None:
        rng = random.Random(agent_id)
        mailbox = f"{self.prefix}mailbox:{agent_id}"
        await self.store.upsert_agent(agent_id, skills_of(agent_id), self.now())
        await self.set_state(agent_id, AgentState.AVAILABLE)
        while time.time() < self.stop_at:
            offer_id = await self.next_offer(mailbox, 0.05)
            roll = rng.random()
            if offer_id is None:
                if roll < 0.1:  # back after being set away for missed offers (else no change)
                    await self.set_state(agent_id, AgentState.AVAILABLE)
            elif roll < 0.65:
                if await self.accept(agent_id, offer_id):
                    await self.talk(agent_id, mailbox, rng)
            elif roll < 0.77:
                call = self.store.reject(offer_id, agent_id, self.now())
                await self.simple(agent_id, "reject", call, o=offer_id)
            elif roll < 0.8:  # a break with the offer open: the customer is handed on
                await self.take_a_break(agent_id, rng)
            else:
                self.log("ignore", a=agent_id, o=offer_id)  # `expire` will take it back

    async def take_a_break(self, agent_id: str, rng: random.Random) -> None:
        await self.set_state(agent_id, AgentState.AWAY)
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        await self.set_state(agent_id, AgentState.AVAILABLE)

    async def talk(self, agent_id: str, mailbox: str, rng: random.Random) -> None:
        hang_up = time.time() + rng.uniform(0.05, 0.3)
        while (left := hang_up - time.time()) > 0.01:
            # On a call no offer can be open for this agent: any that arrives is stale.
            stale = await self.next_offer(mailbox, left)
            if stale is not None:
                await self.accept(agent_id, stale)
        await self.simple(agent_id, "end_call", self.store.end_call(agent_id, self.now()))
        roll = rng.random()
        if roll < 0.5:
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            call = self.store.finish_wrap_up(agent_id, self.now())
            await self.simple(agent_id, "finish", call)
        elif roll < 0.55:
            await self.take_a_break(agent_id, rng)


def run_worker(url: str, prefix: str, worker: int, origin: float, barrier: Any) -> None:
    barrier.wait(timeout=30)
    asyncio.run(Worker(url, prefix, worker, origin).run())


if __name__ == "__worker__":  # a spawned worker running this file (see the test below)
    run_worker(**globals()["WORKER_ARGS"])


# --- the test --------------------------------------------------------------------------------


async def settle(url: str, prefix: str, origin: float) -> tuple[list[dict[str, Any]], Any, dict]:
    """Read the log, then end every call and send every agent away, so that each customer
    neither answered nor abandoned must be in a line."""
    client = Redis.from_url(url, decode_responses=True)
    store = RedisRoutingStore(client, CONFIG, prefix=prefix + "q:")
    try:
        entries = [json.loads(raw) for raw in await client.lrange(prefix + "log", 0, -1)]
        now = BASE + (time.time() - origin) * SPEED
        for _ in range(len(AGENTS)):  # sending one away can hand a customer to another
            agents = (await store.snapshot(now)).agents
            busy = [a for a in agents if a.state not in {AgentState.AWAY, AgentState.OFFLINE}]
            if not busy:
                break
            for agent in busy:
                if agent.state is AgentState.ON_CALL:
                    await store.end_call(agent.agent_id, now)
                await store.set_agent_state(agent.agent_id, AgentState.AWAY, now)
        snapshot = await store.snapshot(now)
        lines = {n.bucket: await store.waiting(n, limit=CUSTOMERS + 1) for n, _ in LINES}
        return entries, snapshot, lines
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def test_many_processes_share_one_queue_safely(redis_url: str) -> None:
    prefix = f"vbc:{uuid.uuid4().hex[:10]}:"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    origin = time.time()
    # Each worker runs this file by path, so it need not be importable as a module (pytest
    # imports test files its own way); the `__worker__` block at the end of the worker part runs.
    workers = [
        context.Process(
            target=runpy.run_path,
            args=(__file__,),
            kwargs={
                "run_name": "__worker__",
                "init_globals": {
                    "WORKER_ARGS": dict(
                        url=redis_url, prefix=prefix, worker=w, origin=origin, barrier=barrier
                    )
                },
            },
        )
        for w in range(WORKERS)
    ]
    for process in workers:
        process.start()
    deadline = time.time() + 60
    for process in workers:
        process.join(max(0.0, deadline - time.time()))
    stuck = [p for p in workers if p.is_alive()]
    for process in stuck:
        process.terminate()
        process.join(5)
    entries, snapshot, lines = asyncio.run(settle(redis_url, prefix, origin))
    assert not stuck, "workers did not finish within 60 s"
    assert [p.exitcode for p in workers] == [0] * WORKERS
    check(entries, snapshot, lines)


def check(entries: list[dict[str, Any]], snapshot: Any, lines: dict[str, Any]) -> None:
    by_event: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_event[entry["e"]].append(entry)

    # Every customer joined once; the store never made the same offer twice.
    joined = {e["c"]: e["b"] for e in by_event["join"]}
    assert len(joined) == len(by_event["join"]) == CUSTOMERS
    offers = {e["o"]: e for e in by_event["offer"]}
    assert len(offers) == len(by_event["offer"])

    # Every offer went to a qualified agent, for the customer's own line.
    for offer in offers.values():
        needs = Needs.from_bucket(offer["b"])
        assert offer["b"] == joined[offer["c"]]
        assert qualifies(skills_of(offer["a"]), needs), offer
        assert skills_of(offer["a"]).sign_language or not needs.sign_language

    # Replay each agent's own calls in order: one call at a time, one offer at a time.
    offers_to: dict[str, list[int]] = defaultdict(list)
    for offer in offers.values():
        offers_to[offer["a"]].append(number(offer["o"]))
    own = defaultdict(list)
    for entry in entries:
        if "a" in entry and entry["e"] != "offer":
            assert entry["w"] == owner_of(entry["a"])
            own[entry["a"]].append(entry)
    for agent_id, calls in own.items():
        on_call: dict[str, Any] | None = None
        busy: list[tuple[int, int]] = []  # offer numbers made while the agent held an offer
        for entry in sorted(calls, key=lambda e: e["i"]):
            event, ok = entry["e"], entry.get("ok")
            if event == "accept" and ok:
                assert on_call is None, f"{agent_id} took a second call: {entry}"
                on_call = entry
            elif event == "end_call":
                assert ok and on_call is not None, entry
                # From the offer's making to the end of the call, the agent was never free.
                busy.append((number(on_call["o"]), entry["floor"]))
                on_call = None
            elif event == "reject" and ok:
                busy.append((number(entry["o"]), entry["floor"]))
            elif event == "state":
                assert ok, entry  # never refused: the agent's worker never does it on a call
        for made, until in busy:
            overlap = [n for n in offers_to[agent_id] if made < n <= until]
            assert not overlap, f"{agent_id} held o{made} when offered {overlap}"

    # Each customer answered by exactly one agent, or abandoned, or still waiting in one line.
    accepted = [e for e in by_event["accept"] if e["ok"]]
    answered = Counter(e["c"] for e in accepted)
    abandoned = Counter(e["c"] for e in by_event["leave"] if e["abandoned"])
    assert max(answered.values(), default=1) == max(abandoned.values(), default=1) == 1
    assert not set(answered) & set(abandoned)
    for accept in accepted:
        offer = offers[accept["o"]]
        assert (offer["a"], offer["c"], offer["b"]) == (accept["a"], accept["c"], accept["b"])
        # Once offered the customer they were answered on, nobody got another offer of them.
        later = [o for o in offers.values() if o["c"] == accept["c"] and o["o"] != accept["o"]]
        assert all(number(o["o"]) < number(accept["o"]) for o in later), accept
    in_line = Counter(w.customer_id for line in lines.values() for w in line)
    assert max(in_line.values(), default=1) == 1, "a customer is in two places in line"
    assert set(in_line) == set(joined) - set(answered) - set(abandoned)
    for bucket, line in lines.items():
        assert all(joined[w.customer_id] == bucket for w in line)

    # Today's counters agree with the log.
    queues = {q.needs.bucket: q for q in snapshot.queues}
    assert set(queues) == {n.bucket for n, _ in LINES}
    for bucket, queue in queues.items():
        assert queue.joined == sum(b == bucket for b in joined.values())
        assert queue.answered == sum(e["b"] == bucket for e in accepted)
        assert queue.abandoned == sum(joined[c] == bucket for c in abandoned)
        assert queue.waiting == len(lines[bucket])
    assert all(a.state is AgentState.AWAY and a.customer_id is None for a in snapshot.agents)

    # The run exercised what it claims to.
    assert len(accepted) > 300 and len(abandoned) > 100 and len(in_line) > 0
    assert sum(e["ok"] for e in by_event["reject"]) > 10
    assert by_event["ignore"] and any(o["by"] == "expire" for o in offers.values())
    assert sum(e["s"] == "away" for e in by_event["state"]) > 20
    assert any(e["ok"] for e in by_event["finish"])
