"""Live queue statistics and the estimated wait, computed from counters the stores keep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from vbranch_queue.core.model import AgentState, Needs

SECONDS_PER_DAY = 86400


#: date(1970, 1, 1).toordinal(): day numbers count from the Unix epoch's day.
_EPOCH_ORDINAL = 719163


def day_number(now: float, day_starts: float | tzinfo = 0) -> int:
    """Counters restart each day: the contact center's day, not UTC's. `day_starts` is its time
    zone (daylight saving followed), or a fixed offset from UTC in seconds."""
    if isinstance(day_starts, tzinfo):
        return datetime.fromtimestamp(now, day_starts).date().toordinal() - _EPOCH_ORDINAL
    return int((now + day_starts) // SECONDS_PER_DAY)


#: The counter names, kept per bucket and day by both stores.
COUNTERS = (
    "joined",
    "answered",
    "answered_in_time",
    "answer_seconds",
    "abandoned",
    "handled",
    "handle_seconds",
)


@dataclass(frozen=True)
class QueueStats:
    needs: Needs
    waiting: int
    longest_wait_seconds: float
    joined: int
    answered: int
    answered_in_time: int
    abandoned: int
    #: Answered in time / (answered + abandoned); None before anyone was answered or gave up.
    service_level: float | None
    average_speed_of_answer: float | None
    abandonment_rate: float | None
    average_handle_seconds: float | None


def queue_stats(
    needs: Needs,
    waiting: int,
    oldest_enqueued_at: float | None,
    counters: Mapping[str, float],
    now: float,
) -> QueueStats:
    answered = int(counters.get("answered", 0))
    abandoned = int(counters.get("abandoned", 0))
    in_time = int(counters.get("answered_in_time", 0))
    finished = answered + abandoned
    handled = int(counters.get("handled", 0))
    return QueueStats(
        needs=needs,
        waiting=waiting,
        longest_wait_seconds=0.0
        if oldest_enqueued_at is None
        else max(0.0, now - oldest_enqueued_at),
        joined=int(counters.get("joined", 0)),
        answered=answered,
        answered_in_time=in_time,
        abandoned=abandoned,
        service_level=in_time / finished if finished else None,
        average_speed_of_answer=counters.get("answer_seconds", 0) / answered if answered else None,
        abandonment_rate=abandoned / finished if finished else None,
        average_handle_seconds=counters.get("handle_seconds", 0) / handled if handled else None,
    )


#: Agents who are working a queue now or soon: they count toward the estimated wait.
STAFFED_STATES = frozenset(
    {AgentState.AVAILABLE, AgentState.OFFERED, AgentState.ON_CALL, AgentState.WRAP_UP}
)


def estimated_wait(
    position: int, staffed_agents: int, average_handle_seconds: float
) -> float | None:
    """Erlang-free estimate: the people ahead, served in parallel by the staffed qualified agents.

    None when nobody qualified is staffed: no honest estimate exists then.
    """
    if staffed_agents <= 0:
        return None
    return position * average_handle_seconds / staffed_agents


def agents_by_state(states: Mapping[str, AgentState]) -> dict[AgentState, int]:
    counts = dict.fromkeys(AgentState, 0)
    for state in states.values():
        counts[state] += 1
    return counts
