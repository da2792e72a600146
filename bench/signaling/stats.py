"""What the clients measure during a run, and how one run's result is judged and printed."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field

#: Targets from the issue, for this machine.
TARGET_SET_UP_PER_SECOND = 100.0
TARGET_RELAY_P99_MS = 20.0
RELAY_TARGET_CLIENTS = 1000


def percentile(samples: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of them at or below."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Recorder:
    """Shared by every client of a run. All clients live in this one process, so one monotonic clock
    times both ends of each measurement (sender and receiver)."""

    #: Calls run from the start, but only what happens in [window_start, window_end] is counted:
    #: the warm-up keeps the opening rush (every customer joining at once) out of the figures.
    window_start: float = 0.0
    window_end: float = math.inf
    #: The customer's display name (unique per round) → when its `join` was sent.
    join_sent: dict[str, float] = field(default_factory=dict)
    join_to_offer: list[float] = field(default_factory=list)
    relay: list[float] = field(default_factory=list)
    set_up_at: list[float] = field(default_factory=list)
    completed_at: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: Per call: set once the agent has reported media connected, so the customer hangs up after it.
    _agent_media: dict[str, asyncio.Event] = field(default_factory=dict)

    def joined(self, name: str) -> None:
        self.join_sent[name] = time.perf_counter()

    def offered(self, name: str, received_at: float) -> None:
        sent = self.join_sent.pop(name, None)
        if sent is not None and sent >= self.window_start:
            self.join_to_offer.append(received_at - sent)

    def relayed(self, sent_at: float, received_at: float) -> None:
        if sent_at >= self.window_start:
            self.relay.append(received_at - sent_at)

    def set_up(self) -> None:
        self.set_up_at.append(time.perf_counter())

    def completed(self) -> None:
        self.completed_at.append(time.perf_counter())

    def error(self, what: str) -> None:
        self.errors[what] += 1

    def agent_media(self, call_id: str) -> asyncio.Event:
        return self._agent_media.setdefault(call_id, asyncio.Event())

    def forget_call(self, call_id: str) -> None:
        self._agent_media.pop(call_id, None)

    def in_window(self, moments: list[float]) -> int:
        return sum(self.window_start <= moment <= self.window_end for moment in moments)

    def after_start(self, moments: list[float]) -> list[float]:
        return [moment for moment in moments if moment >= self.window_start]


@dataclass(frozen=True)
class Result:
    mode: str
    clients: int
    seconds: float
    warmup: float
    completed_total: int
    #: From the window's start to the last completed call, drain included.
    completed_total_seconds: float
    completed_in_window: int
    set_up_in_window: int
    join_to_offer_ms: tuple[float | None, float | None, int]
    relay_ms: tuple[float | None, float | None, int]
    errors: dict[str, int]
    server_cpu: float
    client_cpu: float
    server_log: tuple[int, int, list[str]]
    #: Calls offered per second (`--rate`); None: a closed loop, the server flat out.
    offered_rate: float | None = None

    @property
    def calls_per_second(self) -> float:
        return self.completed_in_window / self.seconds

    @property
    def set_up_per_second(self) -> float:
        return self.set_up_in_window / self.seconds

    @property
    def overall_calls_per_second(self) -> float:
        # Under overload few calls end inside the window; this counts every call the run finished.
        return self.completed_total / self.completed_total_seconds if self.completed_total else 0.0

    @property
    def server_cpu_ms_per_call(self) -> float | None:
        if not self.set_up_in_window:
            return None
        return self.server_cpu / 100 * self.seconds / self.set_up_in_window * 1000

    def set_up_verdict(self) -> str:
        # A run at a set rate shows latency under that load, not how many calls the server can
        # set up: that is the closed loop's figure.
        if self.offered_rate is not None:
            return "n/a"
        return "PASS" if self.set_up_per_second >= TARGET_SET_UP_PER_SECOND else "MISS"

    @property
    def load(self) -> str:
        return "flat out" if self.offered_rate is None else f"{self.offered_rate:g}/s offered"

    def relay_verdict(self) -> str:
        if self.clients != RELAY_TARGET_CLIENTS:
            return "n/a"
        p99 = self.relay_ms[1]
        return "PASS" if p99 is not None and p99 < TARGET_RELAY_P99_MS else "MISS"


def summarize(samples: list[float]) -> tuple[float | None, float | None, int]:
    """p50 and p99 in milliseconds, and the number of samples."""
    p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
    return (
        None if p50 is None else p50 * 1000,
        None if p99 is None else p99 * 1000,
        len(samples),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pair(summary: tuple[float | None, float | None, int]) -> str:
    return f"{_ms(summary[0])} / {_ms(summary[1])}"


def describe(result: Result) -> str:
    """The full report of one run."""
    agents = result.clients // 2
    errors = ", ".join(f"{what} ×{count}" for what, count in sorted(result.errors.items()))
    log_errors, log_warnings, examples = result.server_log
    lines = [
        f"== {result.mode}: {result.clients} clients ({agents} agents + "
        f"{result.clients - agents} customers), {result.seconds:g} s window after "
        f"{result.warmup:g} s of warm-up, calls {result.load} ==",
        f"calls completed      {result.completed_in_window} in the window "
        f"({result.calls_per_second:.1f}/s); {result.completed_total} in all, by "
        f"{result.completed_total_seconds:.1f} s ({result.overall_calls_per_second:.1f}/s)",
        f"calls set up         {result.set_up_in_window} in the window ({result.set_up_per_second:.1f}/s)",
        f"join → offer         p50 / p99 {_pair(result.join_to_offer_ms)} ms "
        f"({result.join_to_offer_ms[2]} samples)",
        f"signal relay         p50 / p99 {_pair(result.relay_ms)} ms ({result.relay_ms[2]} samples)",
        f"CPU (one core=100%)  server {result.server_cpu:.0f}% ({_ms(result.server_cpu_ms_per_call)} ms "
        f"per call set up), benchmark clients {result.client_cpu:.0f}%",
        f"client errors        {errors or 'none'}",
        f"server log           {log_errors} errors, {log_warnings} warnings",
        *(f"    {line}" for line in examples),
        f"targets              calls set up/s ≥ {TARGET_SET_UP_PER_SECOND:.0f}: {result.set_up_verdict()}; "
        f"relay p99 < {TARGET_RELAY_P99_MS:.0f} ms at {RELAY_TARGET_CLIENTS:,} clients: "
        f"{result.relay_verdict()}",
    ]
    return "\n".join(lines)


HEADER = (
    f"{'mode':<15} {'clients':>7} {'load':>14} {'calls':>6} {'calls/s':>8} {'set up/s':>8} "
    f"{'join→offer p50/p99 ms':>22} {'relay p50/p99 ms':>17} {'errors':>6}  "
    f"{'set-up ≥100/s':<13} {'relay p99 <20ms':<15}"
)


def table_row(result: Result) -> str:
    return (
        f"{result.mode:<15} {result.clients:>7} {result.load:>14} {result.completed_in_window:>6} "
        f"{result.calls_per_second:>8.1f} {result.set_up_per_second:>8.1f} "
        f"{_pair(result.join_to_offer_ms):>22} {_pair(result.relay_ms):>17} "
        f"{sum(result.errors.values()):>6}  {result.set_up_verdict():<13} {result.relay_verdict():<15}"
    )


def table(results: list[Result]) -> str:
    return "\n".join([HEADER, "-" * len(HEADER), *map(table_row, results)])
