"""Demo data: two real calendars, the four services of the sources, and staff to log in with.

Idempotent: running it again updates the same rows instead of adding new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.auth.passwords import hash_password
from vbranch_server.db.models import BusinessCalendarRow, ServiceCategory, StaffRole, StaffUser
from vbranch_server.sla import (
    BusinessCalendar,
    validate_resolution_target,
    weekly_hours_from_mapping,
)

DEMO_CALENDARS: dict[str, dict[str, Any]] = {
    # Iran's 1420 contact center: Saturday–Wednesday 08:00–20:00, Thursday 08:00–16:00.
    "IR-1420": {
        "timezone": "Asia/Tehran",
        "holiday_country": "IR",
        "weekly_hours": {
            **{day: [["08:00", "20:00"]] for day in ("sat", "sun", "mon", "tue", "wed")},
            "thu": [["08:00", "16:00"]],
        },
    },
    # Saudi GOSI: Sunday–Thursday 08:00–16:00.
    "SA-GOSI": {
        "timezone": "Asia/Riyadh",
        "holiday_country": "SA",
        "weekly_hours": {day: [["08:00", "16:00"]] for day in ("sun", "mon", "tue", "wed", "thu")},
    },
}

#: For trying vbranch (or benchmarking it) outside office hours: every day, all day, no holidays.
#: (Hours end at 23:59, so each day has one closed minute.)
ALWAYS_OPEN = "ALWAYS-OPEN"
ALWAYS_OPEN_CALENDAR: dict[str, Any] = {
    "timezone": "UTC",
    "holiday_country": None,
    "weekly_hours": {
        day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    },
}

_ID = {"code": "national_id", "name_en": "National ID", "name_ar": "الهوية الوطنية"}
_IBAN = {"code": "iban_certificate", "name_en": "IBAN certificate", "name_ar": "شهادة الآيبان"}

DEMO_CATEGORIES: list[dict[str, Any]] = [
    {
        "code": "pensions",
        "name_en": "Pensions",
        "name_ar": "المعاشات",
        "calendar": "SA-GOSI",
        "resolution_working_days": 3,
        "required_documents": [_ID, _IBAN],
    },
    {
        "code": "insurance_registration",
        "name_en": "Insurance registration",
        "name_ar": "التسجيل في التأمين",
        "calendar": "IR-1420",
        "resolution_working_days": 3,
        "required_documents": [
            _ID,
            {
                "code": "employment_contract",
                "name_en": "Employment contract",
                "name_ar": "عقد العمل",
            },
        ],
    },
    {
        "code": "one_time_compensation",
        "name_en": "One-time compensation",
        "name_ar": "التعويض لمرة واحدة",
        "calendar": "SA-GOSI",
        "resolution_working_days": 3,
        "required_documents": [
            _ID,
            _IBAN,
            {
                "code": "national_address",
                "name_en": "National address",
                "name_ar": "العنوان الوطني",
            },
        ],
    },
    {
        "code": "medical",
        "name_en": "Medical questions",
        "name_ar": "الاستفسارات الطبية",
        "calendar": "IR-1420",
        "resolution_working_days": 7,
        "required_documents": [
            _ID,
            {"code": "medical_report", "name_en": "Medical report", "name_ar": "التقرير الطبي"},
        ],
    },
]

_ALL = [c["code"] for c in DEMO_CATEGORIES]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: StaffRole
    display_name: str
    languages: tuple[str, ...] = ("ar", "en")
    categories: tuple[str, ...] = tuple(_ALL)
    sign_language: bool = False


DEMO_LOGINS = (
    DemoLogin("admin", "demo-admin-pass", StaffRole.ADMIN, "Demo Administrator"),
    DemoLogin("supervisor", "demo-supervisor-pass", StaffRole.SUPERVISOR, "Samira (supervisor)"),
    DemoLogin("agent.ar", "demo-agent-pass", StaffRole.AGENT, "Ahmad (Arabic, English)"),
    DemoLogin(
        "agent.en",
        "demo-agent-pass",
        StaffRole.AGENT,
        "Emma (English)",
        languages=("en",),
        categories=("pensions", "one_time_compensation"),
    ),
    DemoLogin(
        "agent.sign",
        "demo-agent-pass",
        StaffRole.AGENT,
        "Salma (sign language)",
        sign_language=True,
    ),
)


async def database_is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(StaffUser))


async def _upsert_calendar(session: AsyncSession, name: str, spec: dict[str, Any]) -> None:
    # Validate through the SLA engine's own type first: bad demo data must fail loudly here.
    BusinessCalendar(
        name=name,
        timezone=spec["timezone"],
        holiday_country=spec["holiday_country"],
        weekly_hours=weekly_hours_from_mapping(spec["weekly_hours"]),
    )
    row = await session.scalar(select(BusinessCalendarRow).where(BusinessCalendarRow.name == name))
    if row is None:
        row = BusinessCalendarRow(name=name)
        session.add(row)
    row.timezone = spec["timezone"]
    row.holiday_country = spec["holiday_country"]
    row.weekly_hours = spec["weekly_hours"]


async def seed_demo(session: AsyncSession, now: datetime, *, always_open: bool = False) -> None:
    """The demo calendars, services and staff; with `always_open`, every service on a calendar
    that is open at all hours instead of its office's."""
    for name, spec in DEMO_CALENDARS.items():
        await _upsert_calendar(session, name, spec)
    if always_open:
        await _upsert_calendar(session, ALWAYS_OPEN, ALWAYS_OPEN_CALENDAR)
    await session.flush()
    calendars = {row.name: row for row in await session.scalars(select(BusinessCalendarRow))}
    for spec in DEMO_CATEGORIES:
        row = await session.scalar(
            select(ServiceCategory).where(ServiceCategory.code == spec["code"])
        )
        if row is None:
            row = ServiceCategory(code=spec["code"])
            session.add(row)
        row.name_en, row.name_ar = spec["name_en"], spec["name_ar"]
        row.calendar = calendars[ALWAYS_OPEN if always_open else spec["calendar"]]
        row.resolution_working_days = validate_resolution_target(spec["resolution_working_days"])
        row.first_response_working_days = 1
        row.required_documents = spec["required_documents"]
        row.required_skills = []
        row.active = True
    for login in DEMO_LOGINS:
        user = await session.scalar(select(StaffUser).where(StaffUser.username == login.username))
        if user is None:
            user = StaffUser(
                username=login.username,
                password_hash=await hash_password(login.password),
                created_at=now,
            )
            session.add(user)
        user.display_name, user.role = login.display_name, login.role
        user.languages, user.categories = list(login.languages), list(login.categories)
        user.sign_language, user.active = login.sign_language, True
    await session.flush()
