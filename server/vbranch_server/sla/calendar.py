"""Business calendars: a time zone, weekly opening hours and holidays."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Pinned so that holiday names do not follow the server's LANG/LC_* variables (the
# `holidays` package guesses a language from them); countries without an English
# translation fall back to their original language.
HOLIDAY_NAME_LANGUAGE = "en_US"

# Returned by holiday_name for dates an administrator closed by hand; callers that
# show names to people can recognise it and translate it.
CUSTOM_HOLIDAY_NAME = "Custom holiday"

# Two years is longer than any real run of holidays; a longer search only means the
# calendar is closed for good and would otherwise loop without end.
MAX_SEARCH_DAYS = 366 * 2

_CLOCK_TIME = re.compile(r"^\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?$")


class CalendarError(ValueError):
    """A business calendar is misconfigured or cannot answer the question asked."""


@dataclass(frozen=True)
class OpeningInterval:
    """One stretch of opening hours within a day, from `opens` up to (excluding) `closes`."""

    opens: time
    closes: time

    def __post_init__(self) -> None:
        for label, value in (("opens", self.opens), ("closes", self.closes)):
            if not isinstance(value, time):
                raise CalendarError(f"opening interval {label} must be a datetime.time")
            if value.tzinfo is not None:
                # The calendar's zone applies; a per-interval zone would contradict it.
                raise CalendarError(f"opening interval {label} must not carry a time zone")
        if not self.opens < self.closes:
            raise CalendarError(
                f"opening interval must open before it closes: "
                f"{_format_clock(self.opens)}–{_format_clock(self.closes)}"
            )


WeeklyHours = tuple[tuple[OpeningInterval, ...], ...]


@functools.cache
def _country_holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    # Built once per (country, subdivision) and shared; the object adds years lazily
    # (expand=True) the first time a date of that year is looked up.
    return holidays.country_holidays(country, subdiv=subdivision, language=HOLIDAY_NAME_LANGUAGE)


@dataclass(frozen=True)
class BusinessCalendar:
    """When a branch works: its zone, opening hours per weekday and its holidays."""

    name: str
    timezone: str
    weekly_hours: WeeklyHours  # 7 entries, Monday first
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    custom_holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarError(
                f"calendar {self.name!r}: unknown time zone {self.timezone!r}"
            ) from exc

        # Lists coming from configuration are accepted but stored as tuples, which keeps
        # the calendar hashable and really immutable.
        hours = tuple(tuple(day) for day in self.weekly_hours)
        if len(hours) != len(WEEKDAY_KEYS):
            raise CalendarError(
                f"calendar {self.name!r}: weekly hours need {len(WEEKDAY_KEYS)} weekday "
                f"entries (Monday first), got {len(hours)}"
            )
        for key, intervals in zip(WEEKDAY_KEYS, hours, strict=True):
            _check_day(key, intervals)
        if not any(hours):
            raise CalendarError(f"calendar {self.name!r}: no opening hours on any weekday")
        object.__setattr__(self, "weekly_hours", hours)

        custom = frozenset(self.custom_holidays)
        for day in custom:
            # A datetime is a date too, but would never equal the dates looked up here.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(
                    f"calendar {self.name!r}: custom holidays must be dates, got {day!r}"
                )
        object.__setattr__(self, "custom_holidays", custom)

        if self.holiday_country is None:
            if self.holiday_subdivision is not None:
                raise CalendarError(
                    f"calendar {self.name!r}: a holiday subdivision needs a holiday country"
                )
        else:
            try:
                _country_holidays(self.holiday_country, self.holiday_subdivision)
            except NotImplementedError as exc:
                raise CalendarError(
                    f"calendar {self.name!r}: holidays are not known for country "
                    f"{self.holiday_country!r}"
                    + (
                        f" subdivision {self.holiday_subdivision!r}"
                        if self.holiday_subdivision is not None
                        else ""
                    )
                ) from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_holiday(self, d: date) -> bool:
        if d in self.custom_holidays:
            return True
        if self.holiday_country is None:
            return False
        return d in _country_holidays(self.holiday_country, self.holiday_subdivision)

    def holiday_name(self, d: date) -> str | None:
        if self.holiday_country is not None:
            name = _country_holidays(self.holiday_country, self.holiday_subdivision).get(d)
            if name is not None:
                return str(name)
        if d in self.custom_holidays:
            return CUSTOM_HOLIDAY_NAME
        return None

    def is_working_day(self, d: date) -> bool:
        return bool(self.weekly_hours[d.weekday()]) and not self.is_holiday(d)

    def intervals_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """Opening intervals of `d` as aware datetimes in the calendar's zone, in order.

        On days with a daylight-saving change, wall times that do not exist are moved
        past the gap and intervals are trimmed so that they never overlap in real time;
        an interval that vanishes entirely is left out.
        """
        if not self.is_working_day(d):
            return []
        return [(start, end) for start, end in self._real_intervals(d) if start < end]

    def closing_time(self, d: date) -> datetime:
        if not self.is_working_day(d):
            raise CalendarError(f"calendar {self.name!r}: {d.isoformat()} is not a working day")
        return self._real_intervals(d)[-1][1]

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        candidate = d
        for _ in range(MAX_SEARCH_DAYS):
            candidate += timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise CalendarError(
            f"calendar {self.name!r}: no working day within {MAX_SEARCH_DAYS} days "
            f"after {d.isoformat()}"
        )

    def _real_intervals(self, d: date) -> list[tuple[datetime, datetime]]:
        # Aware datetimes sharing one tzinfo compare and subtract by wall time, so the
        # trimming below is done in UTC, where order is real order.
        zone = self.zone
        result: list[tuple[datetime, datetime]] = []
        previous_end: datetime | None = None
        for interval in self.weekly_hours[d.weekday()]:
            start = datetime.combine(d, interval.opens, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(d, interval.closes, tzinfo=zone).astimezone(UTC)
            if previous_end is not None:
                start = max(start, previous_end)
            end = max(end, start)
            previous_end = end
            result.append((start.astimezone(zone), end.astimezone(zone)))
        return result


def _check_day(key: str, intervals: Sequence[OpeningInterval]) -> None:
    previous: OpeningInterval | None = None
    for interval in intervals:
        if not isinstance(interval, OpeningInterval):
            raise CalendarError(f"{key}: expected OpeningInterval, got {interval!r}")
        if previous is not None and interval.opens < previous.closes:
            raise CalendarError(
                f"{key}: opening intervals must be sorted and must not overlap: "
                f"{_format_interval(previous)} and {_format_interval(interval)}"
            )
        previous = interval


def require_aware(moment: datetime, what: str) -> None:
    """Refuse a naive datetime, whose instant would depend on the server's zone."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def weekly_hours_from_mapping(m: Mapping[str, Sequence[Sequence[str]]]) -> WeeklyHours:
    """Parse {"sat": [["08:00", "20:00"]], ...}; weekdays left out are closed."""
    unknown = sorted(set(m) - set(WEEKDAY_KEYS))
    if unknown:
        raise CalendarError(
            f"unknown weekday key(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(WEEKDAY_KEYS)}"
        )
    days: list[tuple[OpeningInterval, ...]] = []
    for key in WEEKDAY_KEYS:
        raw = m.get(key, ())
        # A string is a Sequence too, and would be read one character at a time.
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise CalendarError(f"{key}: expected a list of [opens, closes] pairs, got {raw!r}")
        intervals: list[OpeningInterval] = []
        for pair in raw:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise CalendarError(f"{key}: expected an [opens, closes] pair, got {pair!r}")
            opens, closes = (_parse_clock(key, text) for text in pair)
            try:
                intervals.append(OpeningInterval(opens, closes))
            except CalendarError as exc:
                raise CalendarError(f"{key}: {exc}") from exc
        # Administrators may list a day's intervals in any order; overlaps still fail.
        intervals.sort(key=lambda interval: interval.opens)
        _check_day(key, intervals)
        days.append(tuple(intervals))
    return tuple(days)


def weekly_hours_to_mapping(hours: WeeklyHours) -> dict[str, list[list[str]]]:
    """The inverse of weekly_hours_from_mapping; every weekday is present, closed ones empty."""
    if len(hours) != len(WEEKDAY_KEYS):
        raise CalendarError(
            f"weekly hours need {len(WEEKDAY_KEYS)} weekday entries, got {len(hours)}"
        )
    return {
        key: [[_format_clock(i.opens), _format_clock(i.closes)] for i in day]
        for key, day in zip(WEEKDAY_KEYS, hours, strict=True)
    }


def _parse_clock(key: str, text: str) -> time:
    # time.fromisoformat alone would also take forms such as "0800" or "08".
    if not isinstance(text, str) or not _CLOCK_TIME.match(text):
        raise CalendarError(f"{key}: bad time {text!r}, expected HH:MM")
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"{key}: bad time {text!r}, expected HH:MM") from exc


def _format_clock(t: time) -> str:
    if t.second == 0 and t.microsecond == 0:
        return t.isoformat(timespec="minutes")
    return t.isoformat()


def _format_interval(interval: OpeningInterval) -> str:
    return f"{_format_clock(interval.opens)}–{_format_clock(interval.closes)}"


def is_open_at(calendar: BusinessCalendar, at: datetime) -> bool:
    """Whether `at` falls inside an opening interval (opening instant included, closing not)."""
    require_aware(at, "at")
    instant = at.astimezone(UTC)
    local_day = instant.astimezone(calendar.zone).date()
    # The previous day too, because a daylight-saving gap can push a late closing time
    # past midnight.
    for d in (local_day - timedelta(days=1), local_day):
        for start, end in calendar.intervals_on(d):
            if start.astimezone(UTC) <= instant < end.astimezone(UTC):
                return True
    return False


def next_opening(calendar: BusinessCalendar, at: datetime) -> datetime:
    """The first instant at or after `at` when the calendar is open, in the calendar's zone.

    If the calendar is open at `at`, that is `at` itself (converted to the calendar's zone),
    so "open now" and "opens at" read from the same answer.
    """
    require_aware(at, "at")
    zone = calendar.zone
    if is_open_at(calendar, at):
        return at.astimezone(zone)
    instant = at.astimezone(UTC)
    d = instant.astimezone(zone).date() - timedelta(days=1)
    for _ in range(MAX_SEARCH_DAYS + 2):
        for start, _end in calendar.intervals_on(d):
            if start.astimezone(UTC) >= instant:
                return start
        d += timedelta(days=1)
    raise CalendarError(
        f"calendar {calendar.name!r}: never opens within {MAX_SEARCH_DAYS} days after "
        f"{at.isoformat()}"
    )
