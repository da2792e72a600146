"""Demo data: the two calendars and four services of the sources, loaded idempotently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.crm.calendars import load_calendar
from vbranch_server.crm.demo import seed_demo
from vbranch_server.db.models import BusinessCalendarRow, ServiceCategory, StaffUser
from vbranch_server.sla import is_open_at, weekly_hours_to_mapping

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


async def _counts(session: AsyncSession) -> tuple[int, ...]:
    return tuple(
        [
            await session.scalar(select(func.count()).select_from(table))
            for table in (BusinessCalendarRow, ServiceCategory, StaffUser)
        ]
    )


async def test_demo_calendars_and_services(db_session: AsyncSession) -> None:
    async with db_session.begin():
        await seed_demo(db_session, NOW)
    tehran = await load_calendar(db_session, "IR-1420")
    assert tehran.timezone == "Asia/Tehran" and tehran.holiday_country == "IR"
    hours = weekly_hours_to_mapping(tehran.weekly_hours)
    assert hours["sat"] == hours["wed"] == [["08:00", "20:00"]]
    assert hours["thu"] == [["08:00", "16:00"]] and hours["fri"] == []
    riyadh = await load_calendar(db_session, "SA-GOSI")
    assert riyadh.timezone == "Asia/Riyadh" and riyadh.holiday_country == "SA"
    hours = weekly_hours_to_mapping(riyadh.weekly_hours)
    assert hours["sun"] == hours["thu"] == [["08:00", "16:00"]]
    assert hours["fri"] == hours["sat"] == []

    targets = {
        c.code: c.resolution_working_days for c in await db_session.scalars(select(ServiceCategory))
    }
    assert targets == {
        "pensions": 3,
        "insurance_registration": 3,
        "one_time_compensation": 3,
        "medical": 7,
    }


async def test_demo_twice_changes_nothing(db_session: AsyncSession) -> None:
    async with db_session.begin():
        await seed_demo(db_session, NOW)
    first = await _counts(db_session)
    await db_session.rollback()
    async with db_session.begin():
        await seed_demo(db_session, NOW)
    assert await _counts(db_session) == first == (2, 4, 5)


async def test_a_policy_above_ten_working_days_is_refused_by_the_database(
    db_session: AsyncSession,
) -> None:
    async with db_session.begin():
        await seed_demo(db_session, NOW)
    with pytest.raises(IntegrityError):
        async with db_session.begin():
            category = await db_session.scalar(
                select(ServiceCategory).where(ServiceCategory.code == "medical")
            )
            assert category is not None
            category.resolution_working_days = 11


async def test_always_open_demo_services_are_open_at_night_and_on_fridays(
    db_session: AsyncSession,
) -> None:
    async with db_session.begin():
        await seed_demo(db_session, NOW, always_open=True)
    always = await load_calendar(db_session, "ALWAYS-OPEN")
    friday_night = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    assert is_open_at(always, friday_night)
    calendars = (
        await db_session.scalars(
            select(BusinessCalendarRow.name).join(
                ServiceCategory, ServiceCategory.calendar_id == BusinessCalendarRow.id
            )
        )
    ).all()
    assert set(calendars) == {"ALWAYS-OPEN"}
    # The office calendars are still there for a later plain `vbranch demo`.
    assert not is_open_at(await load_calendar(db_session, "SA-GOSI"), friday_night)
