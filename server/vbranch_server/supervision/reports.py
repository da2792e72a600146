"""The day's figures per queue and per agent, as rows and as CSV.

Answered calls come from the call records (one per accepted call, with the customer's wait and
the talk time); the abandoned come from the routing store's day counters, since a customer who
gave up has no call record. Pure: the web layer reads the rows and hands them in.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vbranch_queue.core.model import Needs


@dataclass(frozen=True)
class AnsweredCall:
    """One answered call, as the reports need it (from `CallRecord`)."""

    queue: str
    agent_id: int
    wait_seconds: float
    talk_seconds: float | None
    end_reason: str | None


QUEUE_COLUMNS = (
    "category",
    "language",
    "sign_language",
    "answered",
    "answered_in_time",
    "target_seconds",
    "service_level",
    "average_speed_of_answer",
    "abandoned",
    "abandonment_rate",
    "average_talk_seconds",
)
AGENT_COLUMNS = (
    "agent",
    "answered",
    "completed",
    "transferred",
    "average_wait_seconds",
    "average_talk_seconds",
    "total_talk_seconds",
)


def _average(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def queue_rows(
    calls: Iterable[AnsweredCall],
    abandoned: Mapping[str, int],
    threshold: Callable[[Needs], float],
) -> list[dict[str, Any]]:
    """One row per queue that answered or lost a customer today, ordered by queue."""
    by_queue: dict[str, list[AnsweredCall]] = defaultdict(list)
    for call in calls:
        by_queue[call.queue].append(call)
    rows = []
    for queue in sorted(set(by_queue) | {q for q, n in abandoned.items() if n}):
        needs = Needs.from_bucket(queue)
        answered = by_queue.get(queue, [])
        limit = threshold(needs)
        in_time = sum(1 for c in answered if c.wait_seconds <= limit)
        lost = abandoned.get(queue, 0)
        finished = len(answered) + lost
        rows.append(
            {
                "category": needs.category,
                "language": needs.language,
                "sign_language": needs.sign_language,
                "answered": len(answered),
                "answered_in_time": in_time,
                "target_seconds": limit,
                "service_level": in_time / finished if finished else None,
                "average_speed_of_answer": _average([c.wait_seconds for c in answered]),
                "abandoned": lost,
                "abandonment_rate": lost / finished if finished else None,
                "average_talk_seconds": _average(
                    [c.talk_seconds for c in answered if c.talk_seconds is not None]
                ),
            }
        )
    return rows


def agent_rows(calls: Iterable[AnsweredCall], names: Mapping[int, str]) -> list[dict[str, Any]]:
    """One row per agent who answered a call today, ordered by name."""
    by_agent: dict[int, list[AnsweredCall]] = defaultdict(list)
    for call in calls:
        by_agent[call.agent_id].append(call)
    rows = []
    for agent_id, answered in by_agent.items():
        talks = [c.talk_seconds for c in answered if c.talk_seconds is not None]
        rows.append(
            {
                "agent": names.get(agent_id, str(agent_id)),
                "answered": len(answered),
                "completed": sum(1 for c in answered if c.end_reason == "completed"),
                "transferred": sum(1 for c in answered if c.end_reason == "transferred"),
                "average_wait_seconds": _average([c.wait_seconds for c in answered]),
                "average_talk_seconds": _average(talks),
                "total_talk_seconds": sum(talks),
            }
        )
    return sorted(rows, key=lambda r: str(r["agent"]))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


#: What a spreadsheet may read as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})


def to_csv(
    columns: Sequence[str], headings: Mapping[str, str], rows: Iterable[Mapping[str, Any]]
) -> str:
    """Headings in the reader's language; a byte-order mark so spreadsheets read Arabic as UTF-8.

    Cells starting with a formula character are quoted with a leading apostrophe: a name typed by
    someone must not run as a spreadsheet formula.
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([headings.get(c, c) for c in columns])
    for row in rows:
        cells = [_cell(row[c]) for c in columns]
        writer.writerow(["'" + c if c[:1] in FORMULA_STARTS else c for c in cells])
    return out.getvalue()
