"""Tests of business calendars: validation, holidays, opening hours and their mapping form."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from vbranch_server.sla import (
    CUSTOM_HOLIDAY_NAME,
    WEEKDAY_KEYS,
    BusinessCalendar,
    CalendarError,
    OpeningInterval,
    is_open_at,
    next_opening,
    weekly_hours_from_mapping,
    weekly_hours_to_mapping,
)
from vbranch_server.sla.calendar import _country_holidays

IR_HOURS = {
    "sat": [["08:00", "20:00"]],
    "sun": [["08:00", "20:00"]],
    "mon": [["08:00", "20:00"]],
    "tue": [["08:00", "20:00"]],
    "wed": [["08:00", "20:00"]],
    "thu": [["08:00", "16:00"]],
}
SPLIT_HOURS = {
    key: [["08:00", "12:00"], ["13:00", "17:00"]] for key in ("sat", "sun", "mon", "tue", "wed")
}


def ir_calendar(custom_holidays: frozenset[date] = frozenset()) -> BusinessCalendar:
    return BusinessCalendar(
        name="IR-1420",
        timezone="Asia/Tehran",
        weekly_hours=weekly_hours_from_mapping(IR_HOURS),
        holiday_country="IR",
        custom_holidays=custom_holidays,
    )


def split_calendar() -> BusinessCalendar:
    return BusinessCalendar(
        name="IR-split",
        timezone="Asia/Tehran",
        weekly_hours=weekly_hours_from_mapping(SPLIT_HOURS),
    )


def hours_with(day: str, *intervals: tuple[time, time]) -> tuple[tuple[OpeningInterval, ...], ...]:
    index = WEEKDAY_KEYS.index(day)
    return tuple(
        tuple(OpeningInterval(o, c) for o, c in intervals) if i == index else () for i in range(7)
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- validation -------------------------------------------------------------------------


def test_opening_interval_must_open_before_it_closes() -> None:
    with pytest.raises(ValueError, match="open before it closes: 12:00–08:00"):
        OpeningInterval(time(12), time(8))
    with pytest.raises(ValueError, match="open before it closes"):
        OpeningInterval(time(8), time(8))


def test_opening_interval_refuses_aware_times() -> None:
    with pytest.raises(ValueError, match="time zone"):
        OpeningInterval(time(8, tzinfo=UTC), time(12))


@pytest.mark.parametrize("zone", ["Asia/Teheran-typo", "Not/A_Zone", "", "../etc/passwd"])
def test_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(CalendarError, match="unknown time zone"):
        BusinessCalendar("x", zone, weekly_hours_from_mapping(IR_HOURS))


def test_unknown_holiday_country_is_refused() -> None:
    with pytest.raises(CalendarError, match="holidays are not known for country 'XX'"):
        BusinessCalendar("x", "Asia/Tehran", weekly_hours_from_mapping(IR_HOURS), "XX")


def test_unknown_holiday_subdivision_is_refused() -> None:
    with pytest.raises(CalendarError, match="subdivision 'ZZ'"):
        BusinessCalendar("x", "Asia/Riyadh", weekly_hours_from_mapping(IR_HOURS), "SA", "ZZ")


def test_subdivision_without_country_is_refused() -> None:
    with pytest.raises(CalendarError, match="needs a holiday country"):
        BusinessCalendar("x", "UTC", weekly_hours_from_mapping(IR_HOURS), None, "CA")


def test_weekly_hours_need_seven_days() -> None:
    hours = weekly_hours_from_mapping(IR_HOURS)[:6]
    with pytest.raises(CalendarError, match="7 weekday entries"):
        BusinessCalendar("x", "UTC", hours)


def test_overlapping_intervals_are_refused() -> None:
    hours = hours_with("mon", (time(8), time(12)), (time(11), time(17)))
    with pytest.raises(
        CalendarError, match=r"mon: .*must not overlap: 08:00–12:00 and 11:00–17:00"
    ):
        BusinessCalendar("x", "UTC", hours)


def test_unsorted_intervals_are_refused() -> None:
    hours = hours_with("tue", (time(13), time(17)), (time(8), time(12)))
    with pytest.raises(CalendarError, match=r"tue: .*sorted"):
        BusinessCalendar("x", "UTC", hours)


def test_touching_intervals_are_allowed() -> None:
    hours = hours_with("mon", (time(8), time(12)), (time(12), time(17)))
    calendar = BusinessCalendar("x", "UTC", hours)
    assert calendar.closing_time(date(2026, 5, 4)) == at("2026-05-04T17:00+00:00")


def test_a_week_without_opening_hours_is_refused() -> None:
    with pytest.raises(CalendarError, match="no opening hours"):
        BusinessCalendar("x", "UTC", ((),) * 7)


def test_custom_holidays_must_be_plain_dates() -> None:
    with pytest.raises(CalendarError, match="custom holidays must be dates"):
        BusinessCalendar(
            "x",
            "UTC",
            weekly_hours_from_mapping(IR_HOURS),
            custom_holidays=frozenset({datetime(2026, 5, 4, tzinfo=UTC)}),
        )


def test_lists_from_configuration_are_stored_as_tuples() -> None:
    hours = [list(day) for day in weekly_hours_from_mapping(IR_HOURS)]
    calendar = BusinessCalendar(
        "x",
        "UTC",
        hours,  # type: ignore[arg-type]
        custom_holidays={date(2026, 5, 4)},  # type: ignore[arg-type]
    )
    assert calendar.weekly_hours == weekly_hours_from_mapping(IR_HOURS)
    assert calendar.custom_holidays == frozenset({date(2026, 5, 4)})
    assert hash(calendar) == hash(
        BusinessCalendar(
            "x",
            "UTC",
            weekly_hours_from_mapping(IR_HOURS),
            custom_holidays=frozenset({date(2026, 5, 4)}),
        )
    )


# --- holidays and working days -------------------------------------------------------------


def test_package_holidays_are_built_once_per_country() -> None:
    first = ir_calendar()
    second = ir_calendar(frozenset({date(2026, 5, 4)}))
    assert first.is_holiday(date(2026, 3, 21))
    assert second.is_holiday(date(2026, 3, 21))
    assert _country_holidays("IR", None) is _country_holidays("IR", None)


@pytest.mark.parametrize(
    ("day", "working", "holiday_name"),
    [
        pytest.param(date(2026, 5, 2), True, None, id="saturday"),
        pytest.param(date(2026, 5, 7), True, None, id="thursday-short-day"),
        pytest.param(date(2026, 5, 8), False, None, id="friday-closed"),
        pytest.param(date(2026, 3, 21), False, "Eid al-Fitr; Nowruz", id="nowruz-on-a-saturday"),
        pytest.param(date(2026, 4, 14), False, "Martyrdom of Imam Ja'far al-Sadiq", id="tuesday"),
        pytest.param(
            date(2026, 3, 20),
            False,
            "Iranian Oil Industry Nationalization Day",
            id="holiday-on-a-friday",
        ),
        pytest.param(date(2026, 5, 4), False, CUSTOM_HOLIDAY_NAME, id="custom-holiday"),
    ],
)
def test_working_days_of_the_iranian_calendar(
    day: date, working: bool, holiday_name: str | None
) -> None:
    calendar = ir_calendar(frozenset({date(2026, 5, 4)}))
    assert calendar.is_working_day(day) is working
    assert calendar.holiday_name(day) == holiday_name
    assert calendar.is_holiday(day) is (holiday_name is not None)


def test_holiday_names_do_not_depend_on_the_server_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package picks a language from these variables unless told; the calendar pins it.
    monkeypatch.setenv("LANG", "C")
    monkeypatch.setenv("LANGUAGE", "fa_IR")
    _country_holidays.cache_clear()
    try:
        assert ir_calendar().holiday_name(date(2026, 3, 21)) == "Eid al-Fitr; Nowruz"
    finally:
        _country_holidays.cache_clear()


def test_saudi_holidays() -> None:
    calendar = BusinessCalendar(
        "SA-GOSI",
        "Asia/Riyadh",
        weekly_hours_from_mapping(
            {k: [["08:00", "16:00"]] for k in ("sun", "mon", "tue", "wed", "thu")}
        ),
        "SA",
    )
    assert calendar.holiday_name(date(2026, 9, 23)) == "National Day Holiday"
    assert not calendar.is_working_day(date(2026, 9, 23))
    assert calendar.is_working_day(date(2026, 9, 24))
    assert not calendar.is_working_day(date(2026, 9, 25))  # Friday


def test_intervals_and_closing_time() -> None:
    calendar = split_calendar()
    assert calendar.intervals_on(date(2026, 5, 2)) == [
        (at("2026-05-02T08:00+03:30"), at("2026-05-02T12:00+03:30")),
        (at("2026-05-02T13:00+03:30"), at("2026-05-02T17:00+03:30")),
    ]
    assert calendar.closing_time(date(2026, 5, 2)) == at("2026-05-02T17:00+03:30")
    assert calendar.intervals_on(date(2026, 5, 7)) == []
    closing = ir_calendar().closing_time(date(2026, 5, 7))
    assert closing == at("2026-05-07T16:00+03:30")
    assert closing.utcoffset() == timedelta(hours=3, minutes=30)


def test_closing_time_of_a_day_off_is_an_error() -> None:
    with pytest.raises(CalendarError, match="2026-05-08 is not a working day"):
        ir_calendar().closing_time(date(2026, 5, 8))
    with pytest.raises(CalendarError, match="2026-03-21 is not a working day"):
        ir_calendar().closing_time(date(2026, 3, 21))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2026, 5, 2), date(2026, 5, 3), id="saturday-to-sunday"),
        pytest.param(date(2026, 5, 7), date(2026, 5, 9), id="thursday-over-friday"),
        pytest.param(date(2026, 5, 8), date(2026, 5, 9), id="from-a-day-off"),
        pytest.param(date(2026, 3, 19), date(2026, 3, 25), id="over-nowruz"),
        pytest.param(date(2026, 12, 31), date(2027, 1, 2), id="over-year-end"),
    ],
)
def test_next_working_day(day: date, expected: date) -> None:
    assert ir_calendar().next_working_day(day) == expected


def test_next_working_day_gives_up_when_every_day_is_a_holiday() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(120))
    calendar = BusinessCalendar(
        "closed", "UTC", hours_with("mon", (time(9), time(17))), custom_holidays=mondays
    )
    with pytest.raises(CalendarError, match="no working day within 732 days"):
        calendar.next_working_day(date(2026, 1, 1))


def test_daylight_saving_gap_trims_overlapping_intervals() -> None:
    # Europe/Berlin skips 02:00–03:00 on 2026-03-29: 02:30 does not exist and lands at
    # 03:30 CEST, past the 03:00 start of the second interval.
    calendar = BusinessCalendar(
        "berlin", "Europe/Berlin", hours_with("sun", (time(1), time(2, 30)), (time(3), time(4)))
    )
    assert calendar.intervals_on(date(2026, 3, 29)) == [
        (at("2026-03-29T01:00+01:00"), at("2026-03-29T03:30+02:00")),
        (at("2026-03-29T03:30+02:00"), at("2026-03-29T04:00+02:00")),
    ]
    assert calendar.closing_time(date(2026, 3, 29)) == at("2026-03-29T04:00+02:00")


# --- mapping form ---------------------------------------------------------------------------


def test_weekly_hours_from_mapping() -> None:
    hours = weekly_hours_from_mapping(IR_HOURS)
    assert hours[WEEKDAY_KEYS.index("sat")] == (OpeningInterval(time(8), time(20)),)
    assert hours[WEEKDAY_KEYS.index("thu")] == (OpeningInterval(time(8), time(16)),)
    assert hours[WEEKDAY_KEYS.index("fri")] == ()


def test_weekly_hours_to_mapping_lists_every_day() -> None:
    assert weekly_hours_to_mapping(weekly_hours_from_mapping(SPLIT_HOURS)) == {
        "mon": [["08:00", "12:00"], ["13:00", "17:00"]],
        "tue": [["08:00", "12:00"], ["13:00", "17:00"]],
        "wed": [["08:00", "12:00"], ["13:00", "17:00"]],
        "thu": [],
        "fri": [],
        "sat": [["08:00", "12:00"], ["13:00", "17:00"]],
        "sun": [["08:00", "12:00"], ["13:00", "17:00"]],
    }


def test_mapping_round_trips() -> None:
    hours = weekly_hours_from_mapping(IR_HOURS)
    assert weekly_hours_from_mapping(weekly_hours_to_mapping(hours)) == hours
    with_seconds = hours_with("wed", (time(8, 0, 30), time(16, 59, 59)))
    assert weekly_hours_to_mapping(with_seconds)["wed"] == [["08:00:30", "16:59:59"]]
    assert weekly_hours_from_mapping(weekly_hours_to_mapping(with_seconds)) == with_seconds


def test_mapping_sorts_a_days_intervals() -> None:
    hours = weekly_hours_from_mapping({"mon": [["13:00", "17:00"], ["08:00", "12:00"]]})
    assert hours[0] == (OpeningInterval(time(8), time(12)), OpeningInterval(time(13), time(17)))


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        pytest.param({"Sat": [["08:00", "20:00"]]}, "unknown weekday key.*'Sat'", id="capitalised"),
        pytest.param({"saturday": [["08:00", "20:00"]]}, "unknown weekday key", id="long-name"),
        pytest.param({"sat": [["8:00", "20:00"]]}, "sat: bad time '8:00'", id="one-digit-hour"),
        pytest.param({"sat": [["08:00", "24:00"]]}, "bad time '24:00'", id="hour-24"),
        pytest.param({"sat": [["08:60", "20:00"]]}, "bad time '08:60'", id="minute-60"),
        pytest.param({"sat": [["0800", "2000"]]}, "bad time '0800'", id="no-colon"),
        pytest.param({"sat": [[800, "20:00"]]}, "bad time 800", id="not-a-string"),
        pytest.param(
            {"sat": [["08:00"]]}, "sat: expected an \\[opens, closes\\] pair", id="single"
        ),
        pytest.param({"sat": ["08:00-20:00"]}, "expected an \\[opens, closes\\] pair", id="text"),
        pytest.param({"sat": "08:00-20:00"}, "expected a list", id="day-is-text"),
        pytest.param({"sat": None}, "expected a list", id="day-is-null"),
        pytest.param({"sat": [None]}, "expected an \\[opens, closes\\] pair", id="pair-is-null"),
        pytest.param({"sat": [["20:00", "08:00"]]}, "sat: .*open before it closes", id="reversed"),
        pytest.param(
            {"sun": [["08:00", "12:00"], ["11:00", "17:00"]]}, "sun: .*overlap", id="overlap"
        ),
    ],
)
def test_bad_mappings_are_refused(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        weekly_hours_from_mapping(mapping)  # type: ignore[arg-type]


# --- open now / opens at ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        pytest.param("2026-05-02T08:00+03:30", True, id="opening-instant"),
        pytest.param("2026-05-02T10:00+03:30", True, id="morning"),
        pytest.param("2026-05-02T12:30+03:30", False, id="lunch-break"),
        pytest.param("2026-05-02T17:00+03:30", False, id="closing-instant"),
        pytest.param("2026-05-02T07:59:59+03:30", False, id="before-opening"),
        pytest.param("2026-05-07T10:00+03:30", False, id="thursday-closed"),
        pytest.param("2026-05-02T06:30Z", True, id="utc-input"),
    ],
)
def test_is_open_at(moment: str, is_open: bool) -> None:
    assert is_open_at(split_calendar(), at(moment)) is is_open


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param("2026-05-02T10:00+03:30", "2026-05-02T10:00+03:30", id="open-now-is-now"),
        pytest.param("2026-05-02T12:30+03:30", "2026-05-02T13:00+03:30", id="lunch-break"),
        pytest.param("2026-05-02T17:00+03:30", "2026-05-03T08:00+03:30", id="at-closing"),
        pytest.param("2026-05-06T18:00+03:30", "2026-05-09T08:00+03:30", id="over-the-weekend"),
        pytest.param("2026-05-01T20:00Z", "2026-05-02T08:00+03:30", id="utc-input"),
    ],
)
def test_next_opening(moment: str, expected: str) -> None:
    opening = next_opening(split_calendar(), at(moment))
    assert opening == at(expected)
    assert opening.utcoffset() == timedelta(hours=3, minutes=30)


def test_next_opening_skips_holidays() -> None:
    # Thursday 2026-03-19 16:00 is closing time; Nowruz keeps the branch closed until Wednesday.
    assert next_opening(ir_calendar(), at("2026-03-19T16:00+03:30")) == at("2026-03-25T08:00+03:30")


def test_open_now_and_opens_at_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open_at(ir_calendar(), datetime(2026, 5, 2, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(ir_calendar(), datetime(2026, 5, 2, 10))


def test_next_opening_gives_up_on_a_calendar_that_never_opens() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(120))
    calendar = BusinessCalendar(
        "closed", "UTC", hours_with("mon", (time(9), time(17))), custom_holidays=mondays
    )
    with pytest.raises(CalendarError, match="never opens"):
        next_opening(calendar, datetime(2026, 1, 1, tzinfo=UTC))
