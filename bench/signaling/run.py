"""One measured run: a fresh server, N connected clients, calls for a fixed window, then cleanup."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.signaling.accounts import log_in_all, visit_tokens
from bench.signaling.clients import (
    Agent,
    Arrivals,
    Client,
    Customer,
    close_all,
    connect_agents,
    connect_customers,
    customer_loop,
)
from bench.signaling.server import RunningServer, Services, deployed
from bench.signaling.stats import Recorder, Result, summarize
from vbranch_server.gc_tuning import settle_after_start

#: Once the window closes, calls under way get this long to finish before they are abandoned.
DRAIN_SECONDS = 60.0
#: Setting up (server start, logins, 1,000 connections) plus teardown never takes this long on a
#: healthy machine; past it the run is cut short rather than hanging the whole benchmark.
SETUP_AND_TEARDOWN_SECONDS = 300.0


@dataclass(frozen=True)
class Plan:
    mode: str
    clients: int
    #: The measured window, after `warmup` seconds of calls that are not counted.
    seconds: float
    warmup: float
    #: Each customer's pause between two calls.
    pause: float
    #: Calls offered per second, all customers together (None: each calls back when done).
    rate: float | None = None


async def run_once(plan: Plan, services: Services) -> Result:
    budget = plan.warmup + plan.seconds + DRAIN_SECONDS + SETUP_AND_TEARDOWN_SECONDS
    async with asyncio.timeout(budget):
        return await _run(plan, services)


async def _run(plan: Plan, services: Services) -> Result:
    recorder = Recorder()
    agent_count = plan.clients // 2
    agents = [Agent(recorder) for _ in range(agent_count)]
    customers = [Customer(recorder, number) for number in range(plan.clients - agent_count)]
    async with deployed(plan.mode, agent_count, services) as (server, usernames):
        try:
            await _connect(server, usernames, agents, customers)
            # This process is the instrument: its own collection pauses would be counted as the
            # server's latency. The same settings as `vbranch serve`'s.
            settle_after_start()
            cpu = await _measure(server, agents, customers, recorder, plan)
        finally:
            everyone: list[Client] = [*customers, *agents]
            await close_all(everyone)
    return _result(plan, recorder, cpu, server)


async def _connect(
    server: RunningServer, usernames: list[str], agents: list[Agent], customers: list[Customer]
) -> None:
    cookies = await log_in_all(server.base_url, usernames)
    await connect_agents(agents, server.base_url, cookies)
    tokens = await visit_tokens(server.base_url, len(customers))
    await connect_customers(customers, server.base_url, tokens)


async def _measure(
    server: RunningServer,
    agents: list[Agent],
    customers: list[Customer],
    recorder: Recorder,
    plan: Plan,
) -> tuple[float, float]:
    """Runs the calls; returns server and client CPU use over the window (100 = one core)."""
    recorder.window_start = time.perf_counter() + plan.warmup
    recorder.window_end = recorder.window_start + plan.seconds
    arrivals = Arrivals(plan.rate) if plan.rate else None
    pacer = asyncio.create_task(arrivals.run(recorder.window_end)) if arrivals else None
    loops = [
        asyncio.create_task(customer_loop(customer, recorder.window_end, plan.pause, arrivals))
        for customer in customers
    ]
    await asyncio.sleep(plan.warmup)
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    await asyncio.sleep(plan.seconds)
    cpu = (
        (server.cpu_seconds() - server_cpu) / plan.seconds * 100,
        (time.process_time() - client_cpu) / plan.seconds * 100,
    )
    if pacer is not None:
        await pacer
    await _drain(loops, recorder, "customer")
    await _drain([task for agent in agents for task in agent.calls], recorder, "agent")
    return cpu


async def _drain(tasks: list[asyncio.Task[None]], recorder: Recorder, role: str) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in pending:
        task.cancel()
        recorder.error(f"{role} call still under way {DRAIN_SECONDS:.0f} s after the window")
    await asyncio.gather(*pending, return_exceptions=True)


def _result(
    plan: Plan, recorder: Recorder, cpu: tuple[float, float], server: RunningServer
) -> Result:
    log = server.final_log
    completed = recorder.after_start(recorder.completed_at)
    return Result(
        mode=plan.mode,
        clients=plan.clients,
        offered_rate=plan.rate,
        seconds=plan.seconds,
        warmup=plan.warmup,
        completed_total=len(completed),
        completed_total_seconds=max(completed, default=recorder.window_start)
        - recorder.window_start,
        completed_in_window=recorder.in_window(recorder.completed_at),
        set_up_in_window=recorder.in_window(recorder.set_up_at),
        join_to_offer_ms=summarize(recorder.join_to_offer),
        relay_ms=summarize(recorder.relay),
        errors=dict(recorder.errors),
        server_cpu=cpu[0],
        client_cpu=cpu[1],
        server_log=(log.errors, log.warnings, log.examples) if log else (0, 0, ["(log not read)"]),
    )
