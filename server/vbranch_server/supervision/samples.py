"""Queue samples and the dashboard's charts built from them.

Design: once a minute the process running the hub's timers (one at a time, under the timer lease)
stores each queue's waiting count and its routing-store day counters (answered, answered in time,
abandoned: cumulative since the day's start) in `queue_samples`, a table every process shares.
The table's (minute, queue) key makes a second writer of one minute a no-op. From these rows:

- customers waiting per queue over the last hour: the waiting counts as they are;
- answered, abandoned and service level per hour today: the growth of the day counters over each
  hour (the last sample of the hour minus the last sample before it). A counter that went down
  means the store restarted (in-memory mode): the hour then counts from zero.

So the charts need no extra event log, cost one small insert per queue a minute, and agree with
the live figures, which come from the same counters. An event is attributed to the minute of the
next sample, so an hour's bar may be off by the events of its last minute at most.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.db.models import QueueSample

#: Samples older than this are deleted: the charts show today and the last hour.
KEEP = timedelta(days=2)
COUNTERS = ("answered", "answered_in_time", "abandoned")


def day_start(now: datetime, zone: tzinfo) -> datetime:
    """The start of `now`'s day in the contact center's zone, where the routing store restarts
    its day counters (`VBRANCH_TIMEZONE`). In UTC, like the samples."""
    local = now.astimezone(zone)
    # Not local.replace(hour=0...): that keeps the UTC offset of `now`, wrong on a day whose
    # offset changes (daylight saving); combine() asks the zone for midnight's own offset.
    return datetime.combine(local.date(), time(), zone).astimezone(UTC)


def day_end(now: datetime, zone: tzinfo) -> datetime:
    """The next midnight in the contact center's zone, in UTC: not always 24 hours after the day
    started (daylight saving makes days of 23 and 25 hours)."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), zone).astimezone(UTC)


async def store_samples(
    db: AsyncSession, minute: datetime, queues: Sequence[Mapping[str, Any]]
) -> None:
    rows = [
        {
            "taken_at": minute,
            "queue": q["queue"],
            "waiting": int(q["waiting"]),
            **{name: int(q[name]) for name in COUNTERS},
        }
        for q in queues
    ]
    if rows:
        dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
        await db.execute(dialect.insert(QueueSample).values(rows).on_conflict_do_nothing())
    await db.execute(delete(QueueSample).where(QueueSample.taken_at < minute - KEEP))


@dataclass(frozen=True)
class Sample:
    taken_at: datetime
    queue: str
    waiting: int
    answered: int
    answered_in_time: int
    abandoned: int


async def samples_since(db: AsyncSession, since: datetime) -> list[Sample]:
    query = (
        select(QueueSample)
        .where(QueueSample.taken_at >= since)
        .order_by(QueueSample.taken_at, QueueSample.queue)
    )
    return [
        Sample(r.taken_at, r.queue, r.waiting, r.answered, r.answered_in_time, r.abandoned)
        for r in (await db.scalars(query)).all()
    ]


def waiting_last_hour(samples: Sequence[Sample], now: datetime) -> dict[str, Any]:
    """One label per sampled minute of the last hour, one series per queue (null: no sample)."""
    since = now - timedelta(hours=1)
    recent = [s for s in samples if s.taken_at > since]
    minutes = sorted({s.taken_at for s in recent})
    index = {m: i for i, m in enumerate(minutes)}
    series: dict[str, list[int | None]] = {}
    for s in recent:
        series.setdefault(s.queue, [None] * len(minutes))[index[s.taken_at]] = s.waiting
    return {
        "minutes": [m.isoformat() for m in minutes],
        "series": [{"queue": q, "waiting": v} for q, v in sorted(series.items())],
    }


def hourly_today(samples: Sequence[Sample], now: datetime, zone: tzinfo) -> list[dict[str, Any]]:
    """Answered, abandoned and service level for each hour of today up to now."""
    start = day_start(now, zone)
    hours = int((now - start) // timedelta(hours=1)) + 1
    totals = [dict.fromkeys(COUNTERS, 0) for _ in range(hours)]
    by_queue: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        if start <= s.taken_at <= now:
            by_queue[s.queue].append(s)
    for rows in by_queue.values():
        before = dict.fromkeys(COUNTERS, 0)  # the counters restart at the day's start
        for hour in range(hours):
            end = start + timedelta(hours=hour + 1)
            in_hour = [s for s in rows if start + timedelta(hours=hour) <= s.taken_at < end]
            if not in_hour:
                continue
            last = in_hour[-1]
            for name in COUNTERS:
                value = getattr(last, name)
                totals[hour][name] += value - before[name] if value >= before[name] else value
                before[name] = value
    result = []
    for hour, t in enumerate(totals):
        finished = t["answered"] + t["abandoned"]
        result.append(
            {
                "hour": (start + timedelta(hours=hour)).isoformat(),
                "answered": t["answered"],
                "abandoned": t["abandoned"],
                "service_level": t["answered_in_time"] / finished if finished else None,
            }
        )
    return result


async def chart_data(db: AsyncSession, now: datetime, zone: tzinfo) -> dict[str, Any]:
    samples = await samples_since(db, min(day_start(now, zone), now - timedelta(hours=1)))
    return {
        "now": now.isoformat(),
        "waiting": waiting_last_hour(samples, now),
        "hours": hourly_today(samples, now, zone),
    }
