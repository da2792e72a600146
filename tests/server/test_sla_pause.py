"""The SLA clock stops while a ticket is pending (waiting on the customer).

Leaving pending moves the resolution deadlines later by the opening time the ticket waited;
while pending, the SLA state is judged at the moment the clock stopped. First the arithmetic
alone, then the whole path over HTTP on SQLite and PostgreSQL: status changes, the list's SLA
filter, resolving from pending, the supervisor's board; last the migration adding the column.

All times are on the demo calendar SA-GOSI: Asia/Riyadh (UTC+3), Sunday–Thursday 08:00–16:00,
i.e. 05:00–13:00 UTC. November and December 2026 have no Saudi public holiday.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from alembic import command
from sqlalchemy import insert, inspect, select, text

from vbranch_server.crm.tickets import resumed_deadlines, ticket_sla_state
from vbranch_server.db.engine import create_engine
from vbranch_server.db.migrate import alembic_config, upgrade_async
from vbranch_server.db.models import (
    Customer,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
)
from vbranch_server.keys import DB
from vbranch_server.sla import SlaState, working_seconds_between

from .test_tickets_api import Staff, demo_calendar, log_in

SA_GOSI, _ = demo_calendar("pensions")
HOUR = 3600.0
ON, RISK, LATE = "on_track", "at_risk", "breached"


def utc(*moment: int) -> datetime:
    return datetime(*moment, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """As the API writes instants."""
    return moment.isoformat().replace("+00:00", "Z")


# --- the arithmetic, without a database -------------------------------------------------------

#: (pending since, resumed at, due, at risk) -> (due, at risk) after the pause; all UTC.
RESUMED = [
    pytest.param(
        (
            utc(2026, 11, 23, 6),
            utc(2026, 11, 23, 9),
            utc(2026, 11, 25, 13),
            utc(2026, 11, 25, 6, 36),
        ),
        (utc(2026, 11, 26, 8), utc(2026, 11, 25, 9, 36)),
        id="Monday 09:00-12:00: 3 hours, Wednesday 16:00 becomes Thursday 11:00",
    ),
    pytest.param(
        (utc(2026, 11, 26, 12), utc(2026, 11, 29, 6), utc(2026, 11, 30, 13), utc(2026, 11, 30, 7)),
        (utc(2026, 12, 1, 7), utc(2026, 11, 30, 9)),
        id="Thursday 15:00 to Sunday 09:00: the night and the weekend give nothing, 2 hours",
    ),
    pytest.param(
        (utc(2026, 11, 23, 5), utc(2026, 11, 23, 7), utc(2026, 11, 26, 13), utc(2026, 11, 26, 12)),
        (utc(2026, 11, 29, 7), utc(2026, 11, 29, 6)),
        id="the moved deadlines skip the weekend too: Thursday 16:00 + 2 hours is Sunday 10:00",
    ),
    pytest.param(
        (utc(2026, 11, 26, 14), utc(2026, 11, 29, 4), utc(2026, 11, 30, 13), utc(2026, 11, 30, 7)),
        (utc(2026, 11, 30, 13), utc(2026, 11, 30, 7)),
        id="paused and resumed while closed: nothing moves",
    ),
    pytest.param(
        (utc(2026, 11, 23, 6), utc(2026, 11, 23, 6), utc(2026, 11, 25, 13), utc(2026, 11, 25, 6)),
        (utc(2026, 11, 25, 13), utc(2026, 11, 25, 6)),
        id="resumed at once: nothing moves",
    ),
    pytest.param(
        (utc(2026, 11, 25, 14), utc(2026, 11, 26, 6), utc(2026, 11, 25, 13), utc(2026, 11, 25, 6)),
        (utc(2026, 11, 25, 13), utc(2026, 11, 25, 6)),
        id="late when paused (Wednesday 17:00, due 16:00): the breach stays, though an hour passed",
    ),
]


@pytest.mark.parametrize(("given", "expected"), RESUMED)
def test_resumed_deadlines_move_by_the_open_time_paused(
    given: tuple[datetime, datetime, datetime, datetime], expected: tuple[datetime, datetime]
) -> None:
    pending_since, now, due, at_risk = given
    moved = resumed_deadlines(SA_GOSI, pending_since, now, due, at_risk)
    assert moved == expected
    assert all(t.tzinfo is UTC for t in moved)  # stored as UTC, like the other deadlines
    if pending_since <= due:
        # Each deadline moved by exactly the opening time the ticket waited.
        paused = working_seconds_between(SA_GOSI, pending_since, now)
        for old, new in zip((due, at_risk), moved, strict=True):
            assert working_seconds_between(SA_GOSI, old, new) == paused


def test_a_pause_over_the_weekend_counts_the_open_hours_only() -> None:
    thursday_3pm, sunday_9am = utc(2026, 11, 26, 12), utc(2026, 11, 29, 6)
    assert working_seconds_between(SA_GOSI, thursday_3pm, sunday_9am) == 2 * HOUR


def test_holidays_give_no_time_back() -> None:
    closed_monday = dataclasses.replace(SA_GOSI, custom_holidays=frozenset({date(2026, 11, 30)}))
    # Sunday 09:00 to Tuesday 09:00: 7 hours on Sunday, none on Monday, 1 on Tuesday.
    moved = resumed_deadlines(
        closed_monday,
        utc(2026, 11, 29, 6),
        utc(2026, 12, 1, 6),
        utc(2026, 12, 2, 13),
        utc(2026, 12, 2, 7),
    )
    assert moved == (utc(2026, 12, 3, 13), utc(2026, 12, 3, 7))


@pytest.mark.parametrize(
    ("pending_since", "state"),
    [
        (utc(2026, 11, 23, 6), SlaState.ON_TRACK),
        (utc(2026, 11, 25, 6, 36), SlaState.AT_RISK),
        (utc(2026, 11, 25, 13), SlaState.AT_RISK),
        (utc(2026, 11, 25, 14), SlaState.BREACHED),
        # Pending without a recorded pause (cannot happen after the migration): judged now.
        (None, SlaState.BREACHED),
    ],
)
def test_a_pending_ticket_is_judged_where_its_clock_stopped(
    pending_since: datetime | None, state: SlaState
) -> None:
    ticket = Ticket(
        status=TicketStatus.PENDING,
        pending_since=pending_since,
        resolution_at_risk_at=utc(2026, 11, 25, 6, 36),
        resolution_due_at=utc(2026, 11, 25, 13),
    )
    assert ticket_sla_state(ticket, utc(2026, 12, 10, 9)) is state


# --- over HTTP, on SQLite and PostgreSQL ------------------------------------------------------


async def at(client: TestClient, clock: Any, *moment: int) -> Staff:
    clock.now = utc(*moment)
    # Sessions last 12 hours and these jumps are longer: log in again each time.
    return await log_in(client, "supervisor")


async def stored(client: TestClient, *references: str) -> dict[str, Ticket]:
    async with client.server.app[DB]() as db:
        found = await db.scalars(select(Ticket).where(Ticket.reference.in_(references)))
        return {t.reference: t for t in found}


async def test_leaving_pending_moves_the_deadlines_by_the_open_hours_waited(
    client: TestClient, clock: Any
) -> None:
    supervisor = await at(client, clock, 2026, 11, 24, 6)  # Tuesday 09:00 Riyadh
    created = (await supervisor.create(category="pensions"))["ticket"]
    reference = created["reference"]
    assert created["pending_since"] is None
    # Day 0 Tuesday; three working days on: Sunday 16:00 Riyadh. At risk from 09:48 that day.
    assert created["resolution_due_at"] == "2026-11-29T13:00:00Z"
    assert (await stored(client, reference))[reference].resolution_at_risk_at == utc(
        2026, 11, 29, 6, 48
    )
    await supervisor.move(reference, "open")

    # Thursday 15:00 Riyadh to Sunday 09:00: one open hour each side of the weekend.
    supervisor = await at(client, clock, 2026, 11, 26, 12)
    paused = await supervisor.move(reference, "pending")
    assert paused["pending_since"] == "2026-11-26T12:00:00Z"
    assert paused["resolution_due_at"] == "2026-11-29T13:00:00Z"
    supervisor = await at(client, clock, 2026, 11, 29, 6)
    resumed = await supervisor.move(reference, "open")
    assert resumed["pending_since"] is None
    assert resumed["resolution_due_at"] == "2026-11-30T07:00:00Z"  # Monday 10:00 Riyadh
    ticket = (await stored(client, reference))[reference]
    assert ticket.resolution_at_risk_at == utc(2026, 11, 29, 8, 48)
    assert ticket.pending_since is None

    # Pauses add up: Sunday 10:00 to 11:30 Riyadh is another hour and a half.
    supervisor = await at(client, clock, 2026, 11, 29, 7)
    await supervisor.move(reference, "pending")
    supervisor = await at(client, clock, 2026, 11, 29, 8, 30)
    resumed = await supervisor.move(reference, "open")
    assert resumed["resolution_due_at"] == "2026-11-30T08:30:00Z"
    ticket = (await stored(client, reference))[reference]
    assert ticket.resolution_at_risk_at == utc(2026, 11, 29, 10, 18)
    # The first response happened when the ticket was first opened; waiting changes nothing there.
    assert resumed["first_response_at"] == "2026-11-24T06:00:00Z"
    assert resumed["first_response_due_at"] == created["first_response_due_at"]


async def four_tickets(client: TestClient, clock: Any) -> dict[str, str]:
    """Pensions tickets created Saturday 21st 08:00Z: due Wednesday 25th 13:00Z (16:00 Riyadh),
    at risk from 06:36Z that day. By Thursday 26th 06:00Z:

    running: open all along; early: pending since Monday 09:00 Riyadh, before its risk point;
    risky: pending since Wednesday 11:00 Riyadh, at risk; late: pending since Wednesday 17:00
    Riyadh, past its due time.
    """
    supervisor = await log_in(client, "supervisor")
    refs = {}
    for name in ("running", "early", "risky", "late"):
        refs[name] = (await supervisor.create(category="pensions"))["ticket"]["reference"]
        await supervisor.move(refs[name], "open")
    for name, moment in (
        ("early", (2026, 11, 23, 6)),
        ("risky", (2026, 11, 25, 8)),
        ("late", (2026, 11, 25, 14)),
    ):
        supervisor = await at(client, clock, *moment)
        await supervisor.move(refs[name], "pending")
    await at(client, clock, 2026, 11, 26, 6)
    return refs


async def expect_states(
    client: TestClient, clock: Any, refs: dict[str, str], **states: str
) -> None:
    """The detail, the list, the list's SLA filter and `ticket_sla_state` all agree."""
    supervisor = await log_in(client, "supervisor")
    wanted = {refs[name]: state for name, state in states.items()}
    response = await client.get("/api/tickets")
    listed = {t["reference"]: t["sla_state"] for t in (await response.json())["tickets"]}
    assert listed == wanted, clock.now
    for state in (ON, RISK, LATE):
        filtered = set(await supervisor.list(sla=state))
        assert filtered == {r for r, s in wanted.items() if s == state}, (clock.now, state)
    for reference, state in wanted.items():
        detail = await (await supervisor.read(reference)).json()
        assert detail["sla_state"] == state, (clock.now, reference)
    in_db = await stored(client, *wanted)
    assert {r: ticket_sla_state(t, clock.now).value for r, t in in_db.items()} == wanted


async def test_the_sla_state_is_frozen_while_pending(client: TestClient, clock: Any) -> None:
    refs = await four_tickets(client, clock)
    # Past the old due time: the running ticket is late; the paused ones are as they were.
    await expect_states(client, clock, refs, running=LATE, early=ON, risky=RISK, late=LATE)
    clock.now = utc(2026, 12, 10, 9)  # and however long they wait
    await expect_states(client, clock, refs, running=LATE, early=ON, risky=RISK, late=LATE)
    pending = (await (await client.get(f"/api/tickets/{refs['early']}")).json())["pending_since"]
    assert pending == "2026-11-23T06:00:00Z"

    # Resumed on Thursday 26th 09:00 Riyadh after 24 open hours (Monday 7, Tuesday 8,
    # Wednesday 8, Thursday 1): due three working days later, Monday 30th 16:00 Riyadh.
    supervisor = await at(client, clock, 2026, 11, 26, 6)
    resumed = await supervisor.move(refs["early"], "open")
    assert resumed["resolution_due_at"] == "2026-11-30T13:00:00Z"
    assert resumed["sla_state"] == ON
    early = (await stored(client, refs["early"]))[refs["early"]]
    assert early.resolution_at_risk_at == utc(2026, 11, 30, 6, 36)

    # Its clock runs again from there.
    clock.now = utc(2026, 11, 30, 6, 35, 59)
    await expect_states(client, clock, refs, running=LATE, early=ON, risky=RISK, late=LATE)
    clock.now = utc(2026, 11, 30, 6, 36)
    await expect_states(client, clock, refs, running=LATE, early=RISK, risky=RISK, late=LATE)
    clock.now = utc(2026, 11, 30, 13, 0, 0, 1)
    await expect_states(client, clock, refs, running=LATE, early=LATE, risky=RISK, late=LATE)


async def test_resolving_from_pending_is_judged_against_the_moved_deadline(
    client: TestClient, clock: Any
) -> None:
    refs = await four_tickets(client, clock)
    supervisor = await at(client, clock, 2026, 11, 26, 6)  # Thursday 09:00 Riyadh
    waited = await supervisor.move(refs["early"], "resolved")
    # Resolved after the old due time (Wednesday), but the customer had the ticket for 24 of
    # the open hours before it: the due time moved to Monday first.
    assert waited["resolved_at"] == "2026-11-26T06:00:00Z"
    assert waited["resolution_due_at"] == "2026-11-30T13:00:00Z"
    assert waited["pending_since"] is None
    assert waited["sla_state"] == ON

    # Late when paused (17:00 Riyadh, after closing): resolved at 09:00 the next morning, the
    # one open hour it waited does not undo the breach.
    late = await supervisor.move(refs["late"], "resolved")
    assert late["resolution_due_at"] == "2026-11-25T13:00:00Z"
    assert late["sla_state"] == LATE

    # Finished tickets keep their state, whatever the time; the paused one still waits.
    clock.now = utc(2026, 12, 10, 9)
    await expect_states(client, clock, refs, running=LATE, early=ON, risky=RISK, late=LATE)


async def test_the_board_lists_a_paused_ticket_only_if_it_was_at_risk_when_paused(
    client: TestClient, clock: Any
) -> None:
    refs = await four_tickets(client, clock)
    await log_in(client, "supervisor")
    response = await client.get("/api/supervisor/sla-board")
    assert response.status == 200
    board = [
        (t["reference"], t["status"], t["sla_state"]) for t in (await response.json())["tickets"]
    ]
    # Same due time for all: in the order they were created. `early` was paused in time.
    assert board == [
        (refs["running"], "open", LATE),
        (refs["risky"], "pending", RISK),
        (refs["late"], "pending", LATE),
    ]


# --- the migration ----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_postgres_url")


async def test_the_migration_stops_the_clock_of_tickets_already_pending(
    empty_database: str,
) -> None:
    await upgrade_async(empty_database, "0003")
    engine = create_engine(empty_database)
    then = utc(2026, 11, 20, 8)
    # Ticket 1 is pending: it became pending twice, last on the 22nd. Ticket 2 is open again.
    changes = {
        1: [(utc(2026, 11, 20, 9), "pending"), (utc(2026, 11, 21, 9), "open")],
        2: [(utc(2026, 11, 20, 9), "pending"), (utc(2026, 11, 21, 9), "open")],
    }
    changes[1].append((utc(2026, 11, 22, 10, 15, 0, 500000), "pending"))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calendars (name, timezone, weekly_hours) VALUES ('C', 'UTC', '{}')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO service_categories (code, name_ar, name_en, required_skills, "
                    "required_documents, calendar_id, resolution_working_days, "
                    "first_response_working_days, active) "
                    "VALUES ('c', 'ا', 'a', '[]', '[]', 1, 3, 1, true)"
                )
            )
            await conn.execute(insert(Customer.__table__).values(id=1, created_at=then))
            for number, status in ((1, "pending"), (2, "open")):
                await conn.execute(
                    insert(Ticket.__table__).values(
                        id=number,
                        reference=f"VB-2026-00000{number}",
                        secret_code_hash="h",
                        status=status,
                        priority="normal",
                        channel="phone",
                        subject="s",
                        language="ar",
                        category_id=1,
                        customer_id=1,
                        created_at=then,
                        updated_at=then,
                        first_response_due_at=then,
                        resolution_due_at=then,
                        resolution_at_risk_at=then,
                    )
                )
                for moment, to_status in changes[number]:
                    await conn.execute(
                        insert(TicketEvent.__table__).values(
                            ticket_id=number,
                            kind=TicketEventKind.STATUS_CHANGE,
                            to_status=to_status,
                            created_at=moment,
                        )
                    )
        await upgrade_async(empty_database)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Ticket.id, Ticket.pending_since))).all()
        assert dict(rows) == {1: utc(2026, 11, 22, 10, 15, 0, 500000), 2: None}

        # Down again with tickets and their history in place (SQLite must not copy the table).
        await asyncio.to_thread(command.downgrade, alembic_config(empty_database), "0003")
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("tickets")}
            )
            assert (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one() == 2
        assert "pending_since" not in columns and "resolution_due_at" in columns
        await upgrade_async(empty_database)
    finally:
        await engine.dispose()
