"""Loading business calendars from the database into the pure SLA engine's form."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.db.models import BusinessCalendarRow
from vbranch_server.sla import BusinessCalendar, weekly_hours_from_mapping


class UnknownCalendarError(LookupError):
    pass


def calendar_from_row(row: BusinessCalendarRow) -> BusinessCalendar:
    return BusinessCalendar(
        name=row.name,
        timezone=row.timezone,
        weekly_hours=weekly_hours_from_mapping(row.weekly_hours),
        holiday_country=row.holiday_country,
        holiday_subdivision=row.holiday_subdivision,
        custom_holidays=frozenset(h.day for h in row.custom_holidays),
    )


async def load_calendar(session: AsyncSession, name: str) -> BusinessCalendar:
    row = await session.scalar(select(BusinessCalendarRow).where(BusinessCalendarRow.name == name))
    if row is None:
        raise UnknownCalendarError(f"unknown calendar {name!r}")
    return calendar_from_row(row)
