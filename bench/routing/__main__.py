"""Routing decision latency at 1,000 to 100,000 waiting customers: `python -m bench.routing`.

Times the real store calls, one at a time, and prints p50 and p99 in microseconds for four
decisions, each made while `size` customers wait in 29 of 30 lines and 1,000 agents are known:

- join/busy: a customer joins and every qualified agent is busy, so they are put in line;
- join/free: a customer joins a line whose qualified agents are free, so one is offered them;
- available: an agent sets themselves available and is offered the best customer they cover;
- wrap-up:   an agent finishes wrap-up early and is offered the best customer they cover.

Between timed calls, untimed calls put everything back (the customer leaves; the agent goes
offline, which hands the customer back to their place), so the line stays at `size` throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from vbranch_queue.core.model import AgentState, Needs, RoutingConfig, Skills
from vbranch_queue.memory import MemoryRoutingStore

CATEGORIES = ["pensions", "medical", "unemployment", "injury", "family"]
LANGUAGES = ["ar", "en", "fa"]
#: 5 categories x 3 languages x sign language or not: 30 lines. This one stays empty, served by
#: free specialists of its own, for the join/free decision; customers wait in the other 29.
FREE_LINE = Needs("family", "fa")
FILLED_LINES = [
    Needs(category, language, sign)
    for category in CATEGORIES
    for language in LANGUAGES
    for sign in (False, True)
    if Needs(category, language, sign) != FREE_LINE
]
AGENTS = 1000
SPECIALISTS = 50
#: An hour into a UTC day: the run never crosses midnight, so the day's counters never restart.
START = 1_750_000_000.0 - 1_750_000_000.0 % 86400 + 3600
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SCENARIOS = ("join/busy", "join/free", "available", "wrap-up")
TARGET_P99_US = {"memory": 1000.0, "redis": 5000.0}
MAX_GROWTH = 2.0
WARM_UP = 20
ROUNDS = 10

#: A decision to time, and the untimed clean-up that gets its result.
Decision = Callable[[], Awaitable[Any]]
Undo = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    store: str
    size: int
    scenario: str
    p50: float
    p99: float


def percentile(ordered: list[float], q: float) -> float:
    # Nearest rank: good enough for a thousand samples, and no interpolation to explain.
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def generalist_skills(rng: random.Random) -> Skills:
    categories = rng.sample(CATEGORIES, rng.randint(1, 3))
    languages = rng.sample(LANGUAGES, rng.randint(1, 2))
    if categories == [FREE_LINE.category] and languages == [FREE_LINE.language]:
        languages.append("ar")  # every generalist covers at least one filled line
    return Skills.of(categories, languages, sign_language=rng.random() < 0.15)


class Bench:
    def __init__(self, store: Any, kind: str, seed: int) -> None:
        self.store, self.kind = store, kind
        self.rng = random.Random(seed)
        self.now = START
        self.waiting = 0
        self.serial = 0
        self.generalists: list[str] = []
        self.specialists: list[str] = []

    def clock(self) -> float:
        # Strictly increasing, by a millisecond a call: no offer ever reaches its timeout.
        self.now += 0.001
        return self.now

    def customer_id(self) -> str:
        self.serial += 1
        return f"c{self.serial}"

    async def setup_agents(self) -> None:
        for n in range(AGENTS):
            if n < SPECIALISTS:
                agent_id, skills = f"s{n}", Skills.of([FREE_LINE.category], [FREE_LINE.language])
                self.specialists.append(agent_id)
            else:
                agent_id, skills = f"g{n}", generalist_skills(self.rng)
                self.generalists.append(agent_id)
            await self.store.upsert_agent(agent_id, skills, self.clock())
        # The specialists wait, free, by their empty line; the generalists stay offline.
        for agent_id in self.specialists:
            offers = await self.store.set_agent_state(agent_id, AgentState.AVAILABLE, self.clock())
            assert offers == [], offers

    async def fill(self, size: int) -> None:
        """Joins until `size` customers wait, in random lines, priorities and join times."""
        # On Redis many joins are in flight at once, only to fill faster; each is a real join.
        batch = 50 if self.kind == "redis" else 1

        async def join() -> None:
            now = self.clock()
            needs = self.rng.choice(FILLED_LINES)
            priority = self.rng.choice((0, 0, 0, 1, 2))
            enqueued_at = now - self.rng.uniform(0, 3600)
            offer = await self.store.join(
                self.customer_id(), needs, priority, now, enqueued_at=enqueued_at
            )
            assert offer is None, offer

        while self.waiting < size:
            count = min(batch, size - self.waiting)
            await asyncio.gather(*(join() for _ in range(count)))
            self.waiting += count

    async def run(
        self, prepare: Callable[[], Awaitable[tuple[Decision, Undo]]], count: int
    ) -> list[float]:
        durations: list[float] = []
        for _ in range(count):
            decide, undo = await prepare()
            started = time.perf_counter_ns()
            result = await decide()
            durations.append((time.perf_counter_ns() - started) / 1000)
            await undo(result)
        return durations

    def scenarios(self) -> dict[str, Callable[[], Awaitable[tuple[Decision, Undo]]]]:
        return dict(
            zip(
                SCENARIOS,
                (self.join_busy, self.join_free, self.available, self.wrap_up),
                strict=True,
            )
        )

    async def join_busy(self) -> tuple[Decision, Undo]:
        customer_id, needs = self.customer_id(), self.rng.choice(FILLED_LINES)

        async def undo(offer: Any) -> None:
            assert offer is None, offer
            await self.store.leave(customer_id, self.clock())

        return lambda: self.store.join(customer_id, needs, 0, self.clock()), undo

    async def join_free(self) -> tuple[Decision, Undo]:
        customer_id = self.customer_id()

        async def undo(offer: Any) -> None:
            assert offer is not None and offer.agent_id in self.specialists, offer
            # The specialist is free again, and their line empty: nothing else changes.
            left = await self.store.leave(customer_id, self.clock())
            assert left.offers == [], left

        return lambda: self.store.join(customer_id, FREE_LINE, 0, self.clock()), undo

    def hand_back(self, agent_id: str) -> Undo:
        async def undo(offers: Any) -> None:
            assert len(offers) == 1 and offers[0].agent_id == agent_id, offers
            # Offline with the offer open: the customer returns to their place in line.
            await self.store.set_agent_state(agent_id, AgentState.OFFLINE, self.clock())

        return undo

    async def available(self) -> tuple[Decision, Undo]:
        agent_id = self.rng.choice(self.generalists)

        def decide() -> Awaitable[Any]:
            return self.store.set_agent_state(agent_id, AgentState.AVAILABLE, self.clock())

        return decide, self.hand_back(agent_id)

    async def wrap_up(self) -> tuple[Decision, Undo]:
        agent_id = self.rng.choice(self.generalists)
        # Untimed: a call answered and ended, and a newcomer in place of the customer answered.
        [offer] = await self.store.set_agent_state(agent_id, AgentState.AVAILABLE, self.clock())
        await self.store.accept(offer.offer_id, agent_id, self.clock())
        assert await self.store.end_call(agent_id, self.clock()) == []
        now = self.clock()
        enqueued_at = now - self.rng.uniform(0, 3600)
        await self.store.join(self.customer_id(), offer.needs, 0, now, enqueued_at=enqueued_at)
        return lambda: self.store.finish_wrap_up(agent_id, self.clock()), self.hand_back(agent_id)


@asynccontextmanager
async def open_store(kind: str, config: RoutingConfig, redis_url: str) -> AsyncIterator[Any]:
    if kind == "memory":
        yield MemoryRoutingStore(config)
        return
    from redis.asyncio import Redis

    from vbranch_queue.redis_store import RedisRoutingStore

    client = Redis.from_url(redis_url, decode_responses=True)
    # A prefix of its own: other data in the database is never touched, and all of ours goes.
    prefix = f"vbbench:{uuid.uuid4().hex[:12]}:"
    try:
        yield RedisRoutingStore(client, config, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


async def redis_problem(url: str) -> str | None:
    """Why the Redis store cannot be measured here, or None when it can."""
    if importlib.util.find_spec("vbranch_queue.redis_store") is None:
        return "queue/vbranch_queue/redis_store.py does not exist"
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return f"{url} does not answer ({exc.__class__.__name__}: {exc})"
    finally:
        await client.aclose()
    return None


async def bench_store(
    kind: str, sizes: list[int], samples: int, seed: int, redis_url: str
) -> list[Result]:
    # The default timeouts; a wrap-up that is never left to run out (no expire is called).
    config = RoutingConfig()
    async with AsyncExitStack() as stack:
        benches: dict[int, Bench] = {}
        for size in sorted(set(sizes)):
            store = await stack.enter_async_context(open_store(kind, config, redis_url))
            bench = benches[size] = Bench(store, kind, seed)
            started = time.monotonic()
            await bench.setup_agents()
            await bench.fill(size)
            print(f"  {kind}: {size:,} waiting, set up in {time.monotonic() - started:.1f} s")
        # Untimed warm-up: Redis loads each script on its first use, Python fills its caches.
        for bench in benches.values():
            for prepare in bench.scenarios().values():
                await bench.run(prepare, WARM_UP)
        print(f"  {kind}: measuring", flush=True)
        # Sizes take turns, round by round, so that a burst of load from elsewhere on the
        # machine falls on all of them alike instead of skewing the ratio between them.
        durations: dict[tuple[int, str], list[float]] = defaultdict(list)
        for round_number in range(ROUNDS):
            count = samples // ROUNDS + (round_number < samples % ROUNDS)
            for size, bench in benches.items():
                # Not part-way to a full collection over 100,000 customers when timing starts.
                gc.collect()
                for scenario, prepare in bench.scenarios().items():
                    durations[(size, scenario)] += await bench.run(prepare, count)
    results = []
    for (size, scenario), values in durations.items():
        values.sort()
        results.append(
            Result(kind, size, scenario, percentile(values, 0.50), percentile(values, 0.99))
        )
    return results


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: list[Result], samples: int) -> None:
    print()
    print(
        f"Decision latency in µs ({samples:,} samples each; {AGENTS:,} agents; "
        f"{len(FILLED_LINES) + 1} lines)"
    )
    # Other work on the machine shows in the p99 first: say how busy it was.
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Load average {load} on {os.cpu_count()} CPUs (p99 is only meaningful on a quiet one)")
    header = f"{'store':<7} {'waiting':>8} {'decision':<10} {'p50':>8} {'p99':>8}  target p99"
    print(header)
    print("-" * len(header))
    for r in results:
        target = TARGET_P99_US[r.store]
        print(
            f"{r.store:<7} {r.size:>8,} {r.scenario:<10} {r.p50:>8.1f} {r.p99:>8.1f}  "
            f"< {target:,.0f} {verdict(r.p99 < target)}"
        )
    print()
    for store in dict.fromkeys(r.store for r in results):
        mine = [r for r in results if r.store == store]
        smallest, largest = min(r.size for r in mine), max(r.size for r in mine)
        target = TARGET_P99_US[store]
        worst = max(mine, key=lambda r: r.p99)
        print(
            f"{store}: p99 < {target:,.0f} µs at every size: {verdict(worst.p99 < target)} "
            f"(worst {worst.p99:.1f} µs, {worst.scenario} at {worst.size:,})"
        )
        if smallest == largest:
            print(f"{store}: growth needs two sizes; only {smallest:,} was measured")
            continue
        for scenario in SCENARIOS:
            low = next(r for r in mine if r.size == smallest and r.scenario == scenario)
            high = next(r for r in mine if r.size == largest and r.scenario == scenario)
            ratio = high.p99 / low.p99
            print(
                f"{store}: {scenario:<10} p99 at {largest:,} / p99 at {smallest:,} = "
                f"{ratio:.2f} (target ≤ {MAX_GROWTH:g}): {verdict(ratio <= MAX_GROWTH)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="customers waiting, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="timed decisions per size and kind (default: %(default)s)",
    )
    parser.add_argument(
        "--stores",
        default="memory,redis",
        help="memory and/or redis, comma-separated; redis is skipped with the reason when it "
        "cannot run (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1420)
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    unknown = set(stores) - set(TARGET_P99_US)
    if unknown or not sizes or args.samples < 1:
        parser.error(f"unknown stores {sorted(unknown)}" if unknown else "nothing to measure")
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)

    async def run() -> list[Result]:
        results: list[Result] = []
        for store in stores:
            if store == "redis":
                problem = await redis_problem(redis_url)
                if problem is not None:
                    print(f"  redis: skipped, {problem}")
                    continue
            results += await bench_store(store, sizes, args.samples, args.seed, redis_url)
        return results

    results = asyncio.run(run())
    if results:
        report(results, args.samples)


if __name__ == "__main__":
    main()
