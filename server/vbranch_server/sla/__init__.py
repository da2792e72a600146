"""Service levels: business calendars and deadlines counted in working days."""

from vbranch_server.sla.calendar import (
    CUSTOM_HOLIDAY_NAME,
    WEEKDAY_KEYS,
    BusinessCalendar,
    CalendarError,
    OpeningInterval,
    WeeklyHours,
    is_open_at,
    next_opening,
    weekly_hours_from_mapping,
    weekly_hours_to_mapping,
)
from vbranch_server.sla.deadlines import (
    AT_RISK_FRACTION,
    MAX_RESOLUTION_WORKING_DAYS,
    SlaPolicyError,
    SlaState,
    after_working_seconds,
    at_risk_from,
    sla_state,
    validate_resolution_target,
    working_days_after,
    working_seconds_between,
)

__all__ = [
    "AT_RISK_FRACTION",
    "CUSTOM_HOLIDAY_NAME",
    "MAX_RESOLUTION_WORKING_DAYS",
    "WEEKDAY_KEYS",
    "BusinessCalendar",
    "CalendarError",
    "OpeningInterval",
    "SlaPolicyError",
    "SlaState",
    "WeeklyHours",
    "after_working_seconds",
    "at_risk_from",
    "is_open_at",
    "next_opening",
    "sla_state",
    "validate_resolution_target",
    "weekly_hours_from_mapping",
    "weekly_hours_to_mapping",
    "working_days_after",
    "working_seconds_between",
]
