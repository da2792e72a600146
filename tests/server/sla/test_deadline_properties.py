"""Property tests of deadlines and opening-hours time, on demo and randomly built calendars."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vbranch_server.sla import (
    BusinessCalendar,
    OpeningInterval,
    WeeklyHours,
    after_working_seconds,
    at_risk_from,
    is_open_at,
    next_opening,
    weekly_hours_from_mapping,
    weekly_hours_to_mapping,
    working_days_after,
    working_seconds_between,
)

# No deadline: the first lookup of a year makes the holidays package compute that year,
# which is slow once and fast after; example timing is not what these tests are about.
PROPERTY = settings(max_examples=150, deadline=None)

IR_1420 = BusinessCalendar(
    "IR-1420",
    "Asia/Tehran",
    weekly_hours_from_mapping(
        {key: [["08:00", "20:00"]] for key in ("sat", "sun", "mon", "tue", "wed")}
        | {"thu": [["08:00", "16:00"]]}
    ),
    "IR",
)
SA_GOSI = BusinessCalendar(
    "SA-GOSI",
    "Asia/Riyadh",
    weekly_hours_from_mapping(
        {key: [["08:00", "16:00"]] for key in ("sun", "mon", "tue", "wed", "thu")}
    ),
    "SA",
)
DEMO_CALENDARS = [pytest.param(IR_1420, id="IR-1420"), pytest.param(SA_GOSI, id="SA-GOSI")]

FIRST = datetime(2025, 1, 1)
LAST = datetime(2028, 12, 31)


def local_starts(calendar: BusinessCalendar) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=FIRST, max_value=LAST, timezones=st.just(calendar.zone))


utc_starts = st.datetimes(min_value=FIRST, max_value=LAST, timezones=st.just(UTC))
# Instants within days of a clock change in Europe/Berlin or America/New_York, where wall
# times are skipped or repeated.
near_clock_changes = st.builds(
    lambda change, offset: change + offset,
    st.sampled_from(
        [
            datetime(2026, 3, 29, 1, tzinfo=UTC),
            datetime(2026, 10, 25, 1, tzinfo=UTC),
            datetime(2026, 3, 8, 7, tzinfo=UTC),
            datetime(2026, 11, 1, 6, tzinfo=UTC),
        ]
    ),
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)),
)
any_starts = st.one_of(utc_starts, near_clock_changes)
working_day_counts = st.integers(min_value=0, max_value=12)


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[OpeningInterval, ...]:
    # An even number of distinct minutes of the day, paired up in order, gives sorted
    # intervals that never overlap; some of them touch when the user edits hours by hand.
    minutes = draw(st.lists(st.integers(0, 24 * 60 - 1), unique=True, max_size=6))
    minutes = sorted(minutes)[: len(minutes) // 2 * 2]
    return tuple(
        OpeningInterval(time(*divmod(o, 60)), time(*divmod(c, 60)))
        for o, c in zip(minutes[::2], minutes[1::2], strict=True)
    )


weekly_hours: st.SearchStrategy[WeeklyHours] = st.tuples(*[day_hours()] * 7).filter(any)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    return BusinessCalendar(
        name="random",
        # Two zones with daylight saving, whose clocks change away from midnight.
        timezone=draw(
            st.sampled_from(
                ["Asia/Tehran", "Asia/Riyadh", "UTC", "Europe/Berlin", "America/New_York"]
            )
        ),
        weekly_hours=draw(weekly_hours),
        holiday_country=draw(st.sampled_from([None, "IR", "SA"])),
        custom_holidays=draw(
            st.frozensets(st.dates(FIRST.date(), LAST.date() + timedelta(days=60)), max_size=40)
        ),
    )


def instant(moment: datetime) -> float:
    # Aware datetimes sharing a tzinfo compare by wall clock, which is wrong around a
    # daylight-saving fold; timestamps compare real instants.
    return moment.timestamp()


def closing_times_after(calendar: BusinessCalendar, start: datetime, count: int) -> list[datetime]:
    """Reference: the first `count` working-day closing times strictly after `start`."""
    found: list[datetime] = []
    d = start.astimezone(calendar.zone).date() - timedelta(days=1)
    while len(found) < count:
        if calendar.is_working_day(d):
            closing = calendar.closing_time(d)
            if instant(closing) > instant(start):
                found.append(closing)
        d += timedelta(days=1)
    return found


def check_deadline(calendar: BusinessCalendar, start: datetime, n: int) -> datetime:
    deadline = working_days_after(calendar, start, n)
    assert deadline.tzinfo == calendar.zone
    local_date: date = deadline.date()
    assert calendar.is_working_day(local_date)
    assert deadline == calendar.closing_time(local_date)
    assert instant(deadline) > instant(start)
    # Day 0 is the first working day still open to close after start, so the deadline is
    # the (n+1)-th working-day closing time after start.
    assert deadline == closing_times_after(calendar, start, n + 1)[-1]
    return deadline


@pytest.mark.parametrize("calendar", DEMO_CALENDARS)
@PROPERTY
@given(data=st.data(), n=working_day_counts)
def test_deadline_is_a_closing_time_after_start(
    calendar: BusinessCalendar, data: st.DataObject, n: int
) -> None:
    start = data.draw(st.one_of(local_starts(calendar), utc_starts), label="start")
    check_deadline(calendar, start, n)


@pytest.mark.parametrize("calendar", DEMO_CALENDARS)
@PROPERTY
@given(a=utc_starts, b=utc_starts, n=working_day_counts, m=working_day_counts)
def test_deadline_is_monotone(
    calendar: BusinessCalendar, a: datetime, b: datetime, n: int, m: int
) -> None:
    early, late = sorted((a, b))
    few, many = sorted((n, m))
    assert instant(working_days_after(calendar, early, n)) <= instant(
        working_days_after(calendar, late, n)
    )
    assert instant(working_days_after(calendar, early, few)) <= instant(
        working_days_after(calendar, early, many)
    )


@pytest.mark.parametrize("calendar", DEMO_CALENDARS)
@PROPERTY
@given(start=utc_starts, n=st.integers(min_value=1, max_value=12))
def test_a_deadline_reached_at_closing_counts_from_the_next_day(
    calendar: BusinessCalendar, start: datetime, n: int
) -> None:
    previous = working_days_after(calendar, start, n - 1)
    assert working_days_after(calendar, start, n) == working_days_after(calendar, previous, 0)


@PROPERTY
@given(calendar=calendars(), a=any_starts, b=any_starts, n=working_day_counts, m=working_day_counts)
def test_deadline_rules_hold_on_random_calendars(
    calendar: BusinessCalendar, a: datetime, b: datetime, n: int, m: int
) -> None:
    early, late = sorted((a, b))
    few, many = sorted((n, m))
    first = check_deadline(calendar, early, few)
    assert instant(first) <= instant(check_deadline(calendar, late, few))
    assert instant(first) <= instant(check_deadline(calendar, early, many))


@PROPERTY
@given(
    calendar=calendars(),
    start=any_starts,
    seconds=st.floats(min_value=0, max_value=30 * 86400, allow_nan=False),
)
def test_after_working_seconds_inverts_working_seconds_between(
    calendar: BusinessCalendar, start: datetime, seconds: float
) -> None:
    end = after_working_seconds(calendar, start, seconds)
    assert instant(end) >= instant(start)
    exact = timedelta(seconds=seconds).total_seconds()
    assert working_seconds_between(calendar, start, end) == exact
    if exact > 0:
        # Earliest: one microsecond sooner, not quite enough opening time has passed.
        assert working_seconds_between(calendar, start, end - timedelta(microseconds=1)) < exact
        assert is_open_at(calendar, end - timedelta(microseconds=1))


gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))


@PROPERTY
@given(calendar=calendars(), first=any_starts, gap1=gaps, gap2=gaps)
def test_working_seconds_add_up(
    calendar: BusinessCalendar, first: datetime, gap1: timedelta, gap2: timedelta
) -> None:
    middle = first + gap1
    last = middle + gap2
    whole = working_seconds_between(calendar, first, last)
    assert whole == pytest.approx(
        working_seconds_between(calendar, first, middle)
        + working_seconds_between(calendar, middle, last),
        abs=1e-6,
    )
    assert working_seconds_between(calendar, last, first) == 0
    assert 0 <= whole <= (last - first).total_seconds()


@PROPERTY
@given(calendar=calendars(), start=any_starts, seconds=st.integers(1, 20 * 86400))
def test_working_seconds_from_an_instant_are_counted_from_the_next_opening(
    calendar: BusinessCalendar, start: datetime, seconds: int
) -> None:
    opening = next_opening(calendar, start)
    assert instant(opening) >= instant(start)
    assert is_open_at(calendar, opening)
    assert working_seconds_between(calendar, start, opening) == 0
    assert after_working_seconds(calendar, start, seconds) == after_working_seconds(
        calendar, opening, seconds
    )


@pytest.mark.parametrize("calendar", DEMO_CALENDARS)
@PROPERTY
@given(
    start=utc_starts,
    n=st.integers(min_value=1, max_value=10),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_at_risk_from_lies_between_start_and_due(
    calendar: BusinessCalendar, start: datetime, n: int, fraction: float
) -> None:
    due = working_days_after(calendar, start, n)
    risk = at_risk_from(calendar, start, due, fraction)
    assert instant(start) <= instant(risk) <= instant(due)
    total = working_seconds_between(calendar, start, due)
    assert working_seconds_between(calendar, risk, due) == pytest.approx(total * fraction, abs=1e-5)


@PROPERTY
@given(hours=weekly_hours)
def test_weekly_hours_mapping_round_trips(hours: WeeklyHours) -> None:
    assert weekly_hours_from_mapping(weekly_hours_to_mapping(hours)) == hours
