"""SLA deadlines counted in working days and opening-hours time on a business calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from vbranch_server.sla.calendar import (
    MAX_SEARCH_DAYS,
    BusinessCalendar,
    CalendarError,
    require_aware,
)

MAX_RESOLUTION_WORKING_DAYS = 10
AT_RISK_FRACTION = 0.2


class SlaPolicyError(ValueError):
    """An SLA policy asks for something the product does not allow."""


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"


def working_days_after(calendar: BusinessCalendar, start: datetime, working_days: int) -> datetime:
    """The closing time of the `working_days`-th working day after day 0 of `start`.

    Day 0 is the local date of `start` when that is a working day and `start` is strictly
    before its closing time; otherwise it is the next working day. So a question that
    arrives at or after closing time starts counting on the next working day.
    """
    require_aware(start, "start")
    if working_days < 0:
        raise ValueError(f"working days must not be negative, got {working_days}")
    instant = start.astimezone(UTC)
    day = instant.astimezone(calendar.zone).date()
    if not (calendar.is_working_day(day) and instant < calendar.closing_time(day).astimezone(UTC)):
        day = calendar.next_working_day(day)
    for _ in range(working_days):
        day = calendar.next_working_day(day)
    return calendar.closing_time(day)


def validate_resolution_target(working_days: int) -> int:
    """Accept a resolution target of 1 to MAX_RESOLUTION_WORKING_DAYS working days."""
    if (
        isinstance(working_days, bool)
        or not isinstance(working_days, int)
        or not 1 <= working_days <= MAX_RESOLUTION_WORKING_DAYS
    ):
        raise SlaPolicyError(
            f"resolution target must be between 1 and {MAX_RESOLUTION_WORKING_DAYS} working "
            f"days (the maximum is {MAX_RESOLUTION_WORKING_DAYS} working days), "
            f"got {working_days!r}"
        )
    return working_days


def working_seconds_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Seconds of opening hours in [a, b); 0 when b is not after a."""
    require_aware(a, "a")
    require_aware(b, "b")
    return _opening_time_between(calendar, a.astimezone(UTC), b.astimezone(UTC)).total_seconds()


def after_working_seconds(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The earliest instant at which `seconds` of opening hours have passed since `start`.

    Resolution is one microsecond. The result is in the calendar's zone; with seconds=0
    it is `start` itself, even outside opening hours.
    """
    require_aware(start, "start")
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, got {seconds}")
    return _after_opening_time(calendar, start.astimezone(UTC), timedelta(seconds=seconds))


def at_risk_from(
    calendar: BusinessCalendar,
    started: datetime,
    due: datetime,
    fraction: float = AT_RISK_FRACTION,
) -> datetime:
    """The instant from which only `fraction` of the opening time from started to due is left.

    It is the earliest instant at which (1 - fraction) of that opening time has elapsed;
    from then on the remainder is `fraction` and shrinks with every further open second.
    A ticket with no opening time at all before its due time is at risk from the start.
    """
    require_aware(started, "started")
    require_aware(due, "due")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    started_utc = started.astimezone(UTC)
    due_utc = due.astimezone(UTC)
    total = _opening_time_between(calendar, started_utc, due_utc)
    if total <= timedelta(0):
        return min(started_utc, due_utc).astimezone(calendar.zone)
    return _after_opening_time(calendar, started_utc, total - total * fraction)


def sla_state(at: datetime, at_risk_from: datetime, due: datetime) -> SlaState:
    """Breached after `due`, at risk from `at_risk_from` on, otherwise on track."""
    require_aware(at, "at")
    require_aware(at_risk_from, "at_risk_from")
    require_aware(due, "due")
    if at > due:
        return SlaState.BREACHED
    if at >= at_risk_from:
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


def _utc_intervals(calendar: BusinessCalendar, d: date) -> list[tuple[datetime, datetime]]:
    return [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in calendar.intervals_on(d)]


def _opening_time_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    # Whole intervals are summed as timedeltas, which stay exact to the microsecond
    # however many days are spanned; floats would drift.
    total = timedelta(0)
    if b <= a:
        return total
    zone = calendar.zone
    # One day earlier than a's local date, in case a daylight-saving gap pushed the end
    # of that day's last interval past midnight.
    d = a.astimezone(zone).date() - timedelta(days=1)
    last = b.astimezone(zone).date()
    while d <= last:
        for start, end in _utc_intervals(calendar, d):
            overlap = min(end, b) - max(start, a)
            if overlap > timedelta(0):
                total += overlap
        d += timedelta(days=1)
    return total


def _after_opening_time(calendar: BusinessCalendar, start: datetime, needed: timedelta) -> datetime:
    zone = calendar.zone
    if needed <= timedelta(0):
        return start.astimezone(zone)
    remaining = needed
    d = start.astimezone(zone).date() - timedelta(days=1)
    idle_days = 0
    while True:
        intervals = _utc_intervals(calendar, d)
        for interval_start, interval_end in intervals:
            begin = max(interval_start, start)
            available = interval_end - begin
            if available <= timedelta(0):
                continue
            if remaining <= available:
                return (begin + remaining).astimezone(zone)
            remaining -= available
        # Days without opening time give nothing; a calendar closed for longer than the
        # search limit (everything a holiday) can never satisfy the request.
        idle_days = 0 if intervals else idle_days + 1
        if idle_days > MAX_SEARCH_DAYS:
            raise CalendarError(
                f"calendar {calendar.name!r}: no opening hours within {MAX_SEARCH_DAYS} days "
                f"after {d.isoformat()}"
            )
        d += timedelta(days=1)
