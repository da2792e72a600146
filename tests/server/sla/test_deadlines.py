"""Tests of SLA deadlines on the two demo calendars, written out as literal instants."""

from datetime import date, datetime, timedelta

import holidays
import pytest

from vbranch_server.sla import (
    AT_RISK_FRACTION,
    MAX_RESOLUTION_WORKING_DAYS,
    BusinessCalendar,
    CalendarError,
    SlaPolicyError,
    SlaState,
    after_working_seconds,
    at_risk_from,
    sla_state,
    validate_resolution_target,
    weekly_hours_from_mapping,
    working_days_after,
    working_seconds_between,
)

IR_HOURS = {
    "sat": [["08:00", "20:00"]],
    "sun": [["08:00", "20:00"]],
    "mon": [["08:00", "20:00"]],
    "tue": [["08:00", "20:00"]],
    "wed": [["08:00", "20:00"]],
    "thu": [["08:00", "16:00"]],
}
SA_HOURS = {key: [["08:00", "16:00"]] for key in ("sun", "mon", "tue", "wed", "thu")}
SPLIT_HOURS = {
    key: [["08:00", "12:00"], ["13:00", "17:00"]] for key in ("sat", "sun", "mon", "tue", "wed")
}

IR_1420 = BusinessCalendar("IR-1420", "Asia/Tehran", weekly_hours_from_mapping(IR_HOURS), "IR")
SA_GOSI = BusinessCalendar("SA-GOSI", "Asia/Riyadh", weekly_hours_from_mapping(SA_HOURS), "SA")
# Monday 2026-05-04 closed by the administrator.
IR_CUSTOM = BusinessCalendar(
    "IR-custom",
    "Asia/Tehran",
    weekly_hours_from_mapping(IR_HOURS),
    "IR",
    custom_holidays=frozenset({date(2026, 5, 4)}),
)
IR_SPLIT = BusinessCalendar("IR-split", "Asia/Tehran", weekly_hours_from_mapping(SPLIT_HOURS))

CALENDARS = {c.name: c for c in (IR_1420, SA_GOSI, IR_CUSTOM, IR_SPLIT)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_chosen_dates_match_the_holidays_package() -> None:
    # The expected deadlines below assume exactly these holidays; a package update that
    # moves one should fail here, not as a puzzling deadline mismatch.
    ir = holidays.country_holidays("IR", years=[2026, 2027])
    sa = holidays.country_holidays("SA", years=[2026, 2027])
    clean_weeks = [date(2026, 5, 2) + timedelta(days=i) for i in range(14)]
    assert not [d for d in clean_weeks if d in ir or d in sa]
    assert not [d for d in (date(2026, 12, 30) + timedelta(days=i) for i in range(5)) if d in ir]
    assert not [d for d in (date(2026, 12, 30) + timedelta(days=i) for i in range(5)) if d in sa]
    assert [d for d in ir if date(2026, 4, 11) <= d <= date(2026, 4, 16)] == [date(2026, 4, 14)]
    assert [d for d in ir if date(2026, 3, 19) <= d <= date(2026, 3, 25)] == [
        date(2026, 3, 20),
        date(2026, 3, 21),
        date(2026, 3, 22),
        date(2026, 3, 23),
        date(2026, 3, 24),
    ]
    assert [d for d in sa if date(2026, 9, 20) <= d <= date(2026, 9, 24)] == [date(2026, 9, 23)]
    assert [d for d in sa if date(2026, 5, 25) <= d <= date(2026, 6, 1)] == [
        date(2026, 5, 26),
        date(2026, 5, 27),
        date(2026, 5, 28),
        date(2026, 5, 29),
        date(2026, 5, 31),
    ]


# Saturday 2026-05-02 opens a holiday-free fortnight in both countries.
DEADLINE_CASES = [
    # The three examples from the domain description.
    pytest.param(
        "IR-1420", "2026-05-02T10:00+03:30", 3, "2026-05-05T20:00+03:30", id="ir-example-1"
    ),
    pytest.param(
        "IR-1420", "2026-05-02T21:00+03:30", 3, "2026-05-06T20:00+03:30", id="ir-example-2"
    ),
    pytest.param(
        "IR-1420", "2026-05-02T10:00+03:30", 5, "2026-05-07T16:00+03:30", id="ir-example-3"
    ),
    pytest.param("IR-1420", "2026-05-02T10:00+03:30", 0, "2026-05-02T20:00+03:30", id="ir-n0"),
    pytest.param(
        "IR-1420", "2026-05-02T20:00+03:30", 3, "2026-05-06T20:00+03:30", id="ir-exactly-at-closing"
    ),
    pytest.param(
        "IR-1420",
        "2026-05-02T19:59:59.999999+03:30",
        3,
        "2026-05-05T20:00+03:30",
        id="ir-just-before-closing",
    ),
    pytest.param(
        "IR-1420", "2026-05-02T06:00+03:30", 3, "2026-05-05T20:00+03:30", id="ir-before-opening"
    ),
    pytest.param(
        "IR-1420", "2026-05-02T00:00+03:30", 0, "2026-05-02T20:00+03:30", id="ir-midnight"
    ),
    pytest.param("IR-1420", "2026-05-08T10:00+03:30", 1, "2026-05-10T20:00+03:30", id="ir-friday"),
    pytest.param(
        "IR-1420", "2026-05-07T15:00+03:30", 0, "2026-05-07T16:00+03:30", id="ir-thursday-short-day"
    ),
    pytest.param(
        "IR-1420",
        "2026-05-07T17:00+03:30",
        0,
        "2026-05-09T20:00+03:30",
        id="ir-thursday-after-its-early-closing",
    ),
    pytest.param(
        "IR-1420", "2026-05-02T10:00+03:30", 10, "2026-05-13T20:00+03:30", id="ir-maximum-target"
    ),
    pytest.param(
        "IR-1420",
        "2026-04-11T10:00+03:30",
        3,
        "2026-04-15T20:00+03:30",
        id="ir-over-a-tuesday-holiday",
    ),
    pytest.param(
        "IR-1420", "2026-03-19T10:00+03:30", 1, "2026-03-25T20:00+03:30", id="ir-over-nowruz"
    ),
    pytest.param(
        "IR-1420", "2026-03-21T10:00+03:30", 0, "2026-03-25T20:00+03:30", id="ir-start-on-nowruz"
    ),
    pytest.param(
        "IR-1420", "2026-12-30T10:00+03:30", 2, "2027-01-02T20:00+03:30", id="ir-over-year-end"
    ),
    pytest.param(
        "IR-custom", "2026-05-02T10:00+03:30", 3, "2026-05-06T20:00+03:30", id="ir-custom-holiday"
    ),
    pytest.param(
        "IR-split",
        "2026-05-02T12:30+03:30",
        0,
        "2026-05-02T17:00+03:30",
        id="two-intervals-lunch-break",
    ),
    pytest.param(
        "IR-split",
        "2026-05-02T14:00+03:30",
        1,
        "2026-05-03T17:00+03:30",
        id="two-intervals-afternoon",
    ),
    pytest.param(
        "IR-split",
        "2026-05-02T17:00+03:30",
        0,
        "2026-05-03T17:00+03:30",
        id="two-intervals-at-closing",
    ),
    pytest.param(
        "IR-1420", "2026-05-02T16:45+00:00", 0, "2026-05-03T20:00+03:30", id="ir-utc-after-closing"
    ),
    # 22:00 UTC on Friday is already 01:30 on Saturday in Tehran.
    pytest.param(
        "IR-1420", "2026-05-01T22:00+00:00", 0, "2026-05-02T20:00+03:30", id="ir-utc-previous-date"
    ),
    pytest.param("SA-GOSI", "2026-05-03T10:00+03:00", 3, "2026-05-06T16:00+03:00", id="sa-sunday"),
    pytest.param("SA-GOSI", "2026-05-03T10:00+03:00", 0, "2026-05-03T16:00+03:00", id="sa-n0"),
    pytest.param(
        "SA-GOSI", "2026-05-03T16:00+03:00", 0, "2026-05-04T16:00+03:00", id="sa-exactly-at-closing"
    ),
    pytest.param(
        "SA-GOSI", "2026-05-03T07:00+03:00", 1, "2026-05-04T16:00+03:00", id="sa-before-opening"
    ),
    pytest.param(
        "SA-GOSI",
        "2026-05-07T15:00+03:00",
        1,
        "2026-05-10T16:00+03:00",
        id="sa-thursday-over-weekend",
    ),
    pytest.param("SA-GOSI", "2026-05-08T10:00+03:00", 0, "2026-05-10T16:00+03:00", id="sa-friday"),
    pytest.param(
        "SA-GOSI", "2026-05-09T10:00+03:00", 1, "2026-05-11T16:00+03:00", id="sa-saturday"
    ),
    pytest.param(
        "SA-GOSI", "2026-09-20T10:00+03:00", 3, "2026-09-24T16:00+03:00", id="sa-over-national-day"
    ),
    pytest.param(
        "SA-GOSI", "2026-05-25T10:00+03:00", 1, "2026-06-01T16:00+03:00", id="sa-over-eid-al-adha"
    ),
    pytest.param(
        "SA-GOSI", "2026-12-30T10:00+03:00", 2, "2027-01-03T16:00+03:00", id="sa-over-year-end"
    ),
    pytest.param("SA-GOSI", "2026-05-03T05:30+00:00", 0, "2026-05-03T16:00+03:00", id="sa-utc"),
    pytest.param(
        "SA-GOSI",
        "2026-05-03T16:30+03:30",
        0,
        "2026-05-04T16:00+03:00",
        id="sa-start-in-tehran-time",
    ),
]


@pytest.mark.parametrize(("calendar", "start", "working_days", "due"), DEADLINE_CASES)
def test_working_days_after(calendar: str, start: str, working_days: int, due: str) -> None:
    deadline = working_days_after(CALENDARS[calendar], at(start), working_days)
    assert deadline == at(due)
    # Same wall clock and offset as written, in the calendar's own zone.
    assert deadline.isoformat() == at(due).isoformat()
    assert str(deadline.tzinfo) == CALENDARS[calendar].timezone


def test_working_days_after_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        working_days_after(IR_1420, datetime(2026, 5, 2, 10), 3)


def test_working_days_after_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        working_days_after(IR_1420, at("2026-05-02T10:00+03:30"), -1)


def test_working_days_after_on_a_calendar_that_never_works() -> None:
    mondays = frozenset(date(2026, 5, 4) + timedelta(weeks=w) for w in range(120))
    calendar = BusinessCalendar(
        "closed",
        "Asia/Riyadh",
        weekly_hours_from_mapping({"mon": [["08:00", "16:00"]]}),
        custom_holidays=mondays,
    )
    with pytest.raises(CalendarError, match="no working day"):
        working_days_after(calendar, at("2026-05-02T10:00+03:00"), 1)


@pytest.mark.parametrize(
    ("working_days", "accepted"),
    [
        pytest.param(0, False, id="zero"),
        pytest.param(1, True, id="one"),
        pytest.param(MAX_RESOLUTION_WORKING_DAYS, True, id="ten"),
        pytest.param(11, False, id="eleven"),
        pytest.param(-3, False, id="negative"),
        pytest.param(True, False, id="bool"),
    ],
)
def test_validate_resolution_target(working_days: int, accepted: bool) -> None:
    if accepted:
        assert validate_resolution_target(working_days) == working_days
    else:
        with pytest.raises(SlaPolicyError, match="maximum is 10 working days"):
            validate_resolution_target(working_days)


def test_policy_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        validate_resolution_target(11)


# --- opening-hours time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "a", "b", "seconds"),
    [
        pytest.param(
            "IR-1420", "2026-05-02T10:00+03:30", "2026-05-02T12:00+03:30", 7200, id="within-a-day"
        ),
        pytest.param(
            "IR-1420", "2026-05-02T19:00+03:30", "2026-05-03T09:00+03:30", 7200, id="over-a-night"
        ),
        pytest.param(
            "IR-1420", "2026-05-07T15:00+03:30", "2026-05-09T09:00+03:30", 7200, id="over-friday"
        ),
        pytest.param(
            "IR-1420",
            "2026-05-02T10:00+03:30",
            "2026-05-05T20:00+03:30",
            165600,
            id="three-working-days",
        ),
        pytest.param(
            "IR-1420", "2026-03-19T15:00+03:30", "2026-03-25T09:00+03:30", 7200, id="over-nowruz"
        ),
        pytest.param(
            "IR-1420", "2026-05-08T00:00+03:30", "2026-05-08T23:00+03:30", 0, id="day-off"
        ),
        pytest.param(
            "IR-1420", "2026-05-02T12:00+03:30", "2026-05-02T10:00+03:30", 0, id="reversed"
        ),
        pytest.param("IR-1420", "2026-05-02T10:00+03:30", "2026-05-02T10:00+03:30", 0, id="empty"),
        pytest.param(
            "IR-split", "2026-05-02T11:00+03:30", "2026-05-02T14:00+03:30", 7200, id="over-lunch"
        ),
        pytest.param(
            "IR-1420",
            "2026-05-02T06:30+00:00",
            "2026-05-02T10:00+03:30",
            0,
            id="utc-before-opening",
        ),
        pytest.param(
            "SA-GOSI",
            "2026-05-03T15:59:59.5+03:00",
            "2026-05-04T08:00:00.25+03:00",
            0.75,
            id="sub-second",
        ),
    ],
)
def test_working_seconds_between(calendar: str, a: str, b: str, seconds: float) -> None:
    assert working_seconds_between(CALENDARS[calendar], at(a), at(b)) == seconds


@pytest.mark.parametrize(
    ("calendar", "start", "seconds", "expected"),
    [
        pytest.param(
            "IR-1420", "2026-05-02T10:00+03:30", 7200, "2026-05-02T12:00+03:30", id="within-a-day"
        ),
        pytest.param(
            "IR-1420",
            "2026-05-02T19:00+03:30",
            3600,
            "2026-05-02T20:00+03:30",
            id="exactly-to-closing",
        ),
        pytest.param(
            "IR-1420", "2026-05-02T19:00+03:30", 7200, "2026-05-03T09:00+03:30", id="over-a-night"
        ),
        pytest.param(
            "IR-1420", "2026-05-08T10:00+03:30", 1, "2026-05-09T08:00:01+03:30", id="from-a-day-off"
        ),
        pytest.param(
            "IR-1420", "2026-05-08T10:00+03:30", 0, "2026-05-08T10:00+03:30", id="zero-seconds"
        ),
        pytest.param(
            "IR-1420", "2026-03-19T15:00+03:30", 7200, "2026-03-25T09:00+03:30", id="over-nowruz"
        ),
        pytest.param(
            "IR-split", "2026-05-02T11:00+03:30", 7200, "2026-05-02T14:00+03:30", id="over-lunch"
        ),
        pytest.param(
            "SA-GOSI", "2026-05-03T05:00+00:00", 0.5, "2026-05-03T08:00:00.5+03:00", id="utc-start"
        ),
    ],
)
def test_after_working_seconds(calendar: str, start: str, seconds: float, expected: str) -> None:
    result = after_working_seconds(CALENDARS[calendar], at(start), seconds)
    assert result == at(expected)
    assert result.utcoffset() == at(expected).utcoffset()


def test_opening_hours_time_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        working_seconds_between(IR_1420, datetime(2026, 5, 2), at("2026-05-03T00:00+03:30"))
    with pytest.raises(ValueError, match="timezone-aware"):
        after_working_seconds(IR_1420, datetime(2026, 5, 2), 10)
    with pytest.raises(ValueError, match="must not be negative"):
        after_working_seconds(IR_1420, at("2026-05-02T10:00+03:30"), -1)


# --- SLA state ----------------------------------------------------------------------------


def test_three_working_day_ticket_is_at_risk_when_less_than_a_fifth_remains() -> None:
    started = at("2026-05-02T10:00+03:30")
    due = working_days_after(IR_1420, started, 3)
    assert due == at("2026-05-05T20:00+03:30")
    # 46 opening hours in all; a fifth of them, 9h12m, is left from Tuesday 10:48.
    risk = at_risk_from(IR_1420, started, due)
    assert risk == at("2026-05-05T10:48+03:30")
    assert working_seconds_between(IR_1420, risk, due) == 46 * 3600 * AT_RISK_FRACTION

    assert sla_state(started, risk, due) is SlaState.ON_TRACK
    assert sla_state(at("2026-05-05T10:47:59+03:30"), risk, due) is SlaState.ON_TRACK
    assert sla_state(risk, risk, due) is SlaState.AT_RISK
    assert sla_state(due, risk, due) is SlaState.AT_RISK
    assert sla_state(at("2026-05-05T20:00:01+03:30"), risk, due) is SlaState.BREACHED
    assert sla_state(at("2026-05-05T16:30:01+00:00"), risk, due) is SlaState.BREACHED


def test_at_risk_from_over_a_night() -> None:
    # Saturday 19:00 to Sunday 20:00 is 13 opening hours; 2h36m remain from Sunday 17:24.
    started = at("2026-05-02T19:00+03:30")
    due = working_days_after(IR_1420, started, 1)
    assert due == at("2026-05-03T20:00+03:30")
    assert at_risk_from(IR_1420, started, due) == at("2026-05-03T17:24+03:30")
    # Half of it, 6h30m, is gone one hour on Saturday and 5h30m on Sunday.
    assert at_risk_from(IR_1420, started, due, 0.5) == at("2026-05-03T13:30+03:30")


def test_at_risk_from_extremes() -> None:
    started = at("2026-05-02T10:00+03:30")
    due = at("2026-05-02T20:00+03:30")
    assert at_risk_from(IR_1420, started, due, 1) == started
    assert at_risk_from(IR_1420, started, due, 0) == due
    # Due late at night: the last opening second ends at closing time.
    assert at_risk_from(IR_1420, started, at("2026-05-02T23:00+03:30"), 0) == due
    # No opening time at all: at risk from the start.
    friday = at("2026-05-08T10:00+03:30")
    assert at_risk_from(IR_1420, friday, at("2026-05-08T18:00+03:30")) == friday
    with pytest.raises(ValueError, match="fraction"):
        at_risk_from(IR_1420, started, due, 1.5)


def test_sla_state_values_are_stable_strings() -> None:
    assert [s.value for s in SlaState] == ["on_track", "at_risk", "breached"]
    assert SlaState("at_risk") is SlaState.AT_RISK


def test_sla_state_refuses_naive_datetimes() -> None:
    aware = at("2026-05-02T10:00+03:30")
    with pytest.raises(ValueError, match="timezone-aware"):
        sla_state(datetime(2026, 5, 2, 10), aware, aware)
