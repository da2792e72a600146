"""Effective priority with aging, expressed as a queue score that never needs recomputing.

Everyone ages at the same rate, so "higher base priority plus waited time" orders customers the same
way at every moment as the static score `enqueued_at - base_priority * step`: lower score first.
That is what lets a sorted set per bucket hold the line without rescoring anybody.
"""

from __future__ import annotations

#: Customers returned to the front of a line (a transfer, a failed connection) go before everyone
#: else in that line, first come first served among themselves: ~31 years ahead of any wait.
FRONT_OF_LINE_SECONDS = 1e9


def queue_score(
    enqueued_at: float, base_priority: int, step_seconds: float, front: bool = False
) -> float:
    score = enqueued_at - base_priority * step_seconds
    return score - FRONT_OF_LINE_SECONDS if front else score


def effective_priority(
    base_priority: int, enqueued_at: float, now: float, step_seconds: float
) -> float:
    """The priority a supervisor sees: base priority plus one level per `step_seconds` waited."""
    return base_priority + max(0.0, now - enqueued_at) / step_seconds


def idle_score(idle_since: float, calls_today: int, least_busy: bool) -> float:
    """Lower is offered first: the longest idle, or the fewest calls today and then longest idle."""
    return calls_today * 1e10 + idle_since if least_busy else idle_since
