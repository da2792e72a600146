"""The call log's group commit on the real databases: entries pending together share one
transaction, give the rows one entry at a time gives, fail alone, and are never lost or left
hanging at shutdown or when the writer dies. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import seed_demo_data
from vbranch_server.app import create_app
from vbranch_server.crm.call_log import (
    CALLS,
    CUSTOMERS,
    EVENTS,
    TICKETS,
    CallAccepted,
    CallEnded,
    Caller,
    CallLogEntry,
    CallStart,
    CategoryTerms,
    MediaConnected,
    Outcome,
    WrapUpFinished,
    active_category_terms,
)
from vbranch_server.crm.call_log_writer import CallLogClosed, CallLogWriter
from vbranch_server.crm.rules import REFERENCE_PATTERN, secret_code_matches
from vbranch_server.crm.tickets import deadlines_for
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.migrate import upgrade
from vbranch_server.db.models import StaffUser, TicketStatus
from vbranch_server.keys import CALL_LOG
from vbranch_server.settings import Settings

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
#: The order a batch writes its entries in; one entry at a time in this order gives the same rows.
LIFECYCLE = (CallAccepted, MediaConnected, CallEnded, WrapUpFinished)


@dataclass
class Crm:
    engine: AsyncEngine
    writer: CallLogWriter
    terms: dict[str, CategoryTerms]
    agents: dict[str, int]
    commits: int = 0

    def accept(
        self,
        call_id: str,
        agent: str = "agent.ar",
        *,
        reference: str | None = None,
        category: str = "pensions",
        at: datetime = T0,
    ) -> CallAccepted:
        return CallAccepted(
            start=CallStart(
                call_id=call_id,
                agent_id=self.agents[agent],
                visit_id=f"visit-{call_id}",
                queue=f"{category}|ar|-",
                enqueued_at=at - timedelta(seconds=30),
                accepted_at=at,
                wait_seconds=30.0,
            ),
            caller=Caller(f"Caller {call_id}", f"+966 50 {call_id}", "ar"),
            ticket_reference=reference,
            category=category,
            terms=self.terms.get(category),
        )

    async def write_all(self, entries: Sequence[CallLogEntry]) -> list[Outcome]:
        """All the entries pending at once, as concurrent calls would leave them."""
        async with asyncio.timeout(30):
            return await asyncio.gather(
                *(self.writer.write(entry) for entry in entries), return_exceptions=True
            )  # type: ignore[return-value]

    async def write_one_by_one(self, entries: Sequence[CallLogEntry]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for entry in entries:
            try:
                outcomes.append(await self.writer.write(entry))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


async def _seed(url: str) -> None:
    """The demo services and staff (logins are not used here, so no password is hashed)."""
    await seed_demo_data(url, T0, lambda _password: "-")


async def _terms_and_agents(engine: AsyncEngine) -> tuple[dict[str, CategoryTerms], dict[str, int]]:
    async with session_factory(engine)() as session:
        terms = await active_category_terms(session)
        staff = await session.execute(select(StaffUser.username, StaffUser.id))
        return terms, {username: staff_id for username, staff_id in staff}


@asynccontextmanager
async def _crm(url: str, **engine_options: Any) -> AsyncIterator[Crm]:
    """The seeded database's call log, with its writer running."""
    await _seed(url)
    engine = create_engine(url, **engine_options)
    writer = CallLogWriter(engine)
    try:
        crm = Crm(engine, writer, *await _terms_and_agents(engine))

        def committed(*_: Any) -> None:
            crm.commits += 1

        event.listen(engine.sync_engine, "commit", committed)
        writer.start()
        yield crm
    finally:
        await writer.close()
        await engine.dispose()


@pytest.fixture
def other_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second migrated, empty database of the same kind."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "other.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    new_database: Callable[[], str] = request.getfixturevalue("new_postgres_database")
    url = new_database()
    upgrade(url)
    return url


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as db:
        return int(await db.scalar(select(func.count()).select_from(table)) or 0)


async def _crm_rows(engine: AsyncEngine) -> dict[str, Any]:
    """Customers, tickets, history and call records, with row ids replaced by what they stand
    for (a ticket by its reference, a customer by its details): comparable across databases."""
    async with engine.connect() as db:
        customers = {row.id: row[1:] for row in await db.execute(select(CUSTOMERS))}
        tickets = {row.id: row._asdict() for row in await db.execute(select(TICKETS))}
        reference = {ticket_id: ticket["reference"] for ticket_id, ticket in tickets.items()}
        history: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in await db.execute(select(EVENTS).order_by(EVENTS.c.id)):
            history[reference[row.ticket_id]].append(row[2:])
        calls = {
            row.call_id: {**row._asdict(), "id": None, "ticket_id": reference[row.ticket_id]}
            for row in await db.execute(select(CALLS))
        }
    return {
        "tickets": {
            ticket["reference"]: {
                **ticket,
                "id": None,
                "secret_code_hash": None,  # a random code each time
                "customer_id": customers[ticket["customer_id"]],
            }
            for ticket in tickets.values()
        },
        "history": dict(history),
        "calls": calls,
    }


async def _history(engine: AsyncEngine, reference: str) -> list[tuple[str, int | None, str | None]]:
    """A ticket's history as (kind, actor, body or new status or assignee)."""
    async with engine.connect() as db:
        rows = await db.execute(
            select(EVENTS)
            .join(TICKETS, TICKETS.c.id == EVENTS.c.ticket_id)
            .where(TICKETS.c.reference == reference)
            .order_by(EVENTS.c.id)
        )
        return [
            (row.kind.value, row.actor_staff_id, row.body or row.to_status or row.assigned_to_id)
            for row in rows
        ]


async def _ticket(engine: AsyncEngine, reference: str) -> Any:
    async with engine.connect() as db:
        return (await db.execute(select(TICKETS).where(TICKETS.c.reference == reference))).one()


# --- accepts -----------------------------------------------------------------------------------


async def test_concurrent_accepts_share_one_commit_and_each_get_a_whole_ticket(
    database_url: str,
) -> None:
    async with _crm(database_url) as crm:
        entries = [crm.accept(f"call-{n}") for n in range(30)]
        # Half past midnight on New Year's Day in Riyadh: numbered in the new year.
        entries += [
            crm.accept(f"new-year-{n}", at=datetime(2026, 12, 31, 21, 30, tzinfo=UTC))
            for n in range(2)
        ]

        outcomes = await crm.write_all(entries)

        assert crm.commits == 1
        references = [outcome[0] for outcome in outcomes]  # type: ignore[index]
        assert references == [f"VB-2026-{n:06d}" for n in range(1, 31)] + [
            "VB-2027-000001",
            "VB-2027-000002",
        ]
        assert all(REFERENCE_PATTERN.fullmatch(reference) for reference in references)
        terms = crm.terms["pensions"]
        async with crm.engine.connect() as db:
            calls = {row.call_id: row for row in await db.execute(select(CALLS))}
            customers = {row.id: row for row in await db.execute(select(CUSTOMERS))}
        for entry, (reference, code) in zip(entries, outcomes, strict=True):  # type: ignore[misc]
            start = entry.start
            ticket = await _ticket(crm.engine, reference)
            assert code is not None and secret_code_matches(code, ticket.secret_code_hash)
            customer = customers[ticket.customer_id]
            assert (customer.display_name, customer.phone, customer.preferred_language) == (
                entry.caller.display_name,
                entry.caller.phone,
                "ar",
            )
            assert (
                customer.created_at == ticket.created_at == ticket.updated_at == start.accepted_at
            )
            deadlines = deadlines_for(
                terms.calendar,
                terms.first_response_working_days,
                terms.resolution_working_days,
                start.accepted_at,
            )
            assert (
                ticket.first_response_due_at,
                ticket.resolution_due_at,
                ticket.resolution_at_risk_at,
            ) == (
                deadlines.first_response_due_at,
                deadlines.resolution_due_at,
                deadlines.resolution_at_risk_at,
            )
            assert (ticket.status, ticket.category_id, ticket.assigned_agent_id) == (
                TicketStatus.NEW,
                terms.id,
                start.agent_id,
            )
            assert await _history(crm.engine, reference) == [
                ("created", start.agent_id, "new"),
                ("assignment", start.agent_id, start.agent_id),
            ]
            call = calls[start.call_id]
            assert (call.ticket_id, call.agent_id, call.visit_id, call.queue) == (
                ticket.id,
                start.agent_id,
                start.visit_id,
                start.queue,
            )
            assert (call.enqueued_at, call.accepted_at, call.wait_seconds) == (
                start.enqueued_at,
                start.accepted_at,
                start.wait_seconds,
            )
            assert call.connected_at is None and call.ended_at is None
        assert await _count(crm.engine, CUSTOMERS) == 32


# --- a batch of every kind -----------------------------------------------------------------------


async def _mixed_batch(crm: Crm) -> list[CallLogEntry]:
    """Calls at every stage, set up one entry at a time; then one entry for each of them as
    concurrent calls would send them, in no particular order."""
    ar, en = crm.agents["agent.ar"], crm.agents["agent.en"]
    later = T0 + timedelta(minutes=5)
    setup: list[CallLogEntry] = [
        crm.accept("a0"),
        MediaConnected("a0", ar, T0 + timedelta(seconds=10)),
        CallEnded("a0", ar, T0 + timedelta(minutes=2), 110.0, "transferred", None),
        crm.accept("b0"),
        MediaConnected("b0", ar, T0 + timedelta(seconds=10)),
        CallEnded("b0", ar, T0 + timedelta(minutes=3), 170.0, "transferred", "To pensions"),
        crm.accept("c0"),
        crm.accept("d0"),
        crm.accept("e0", "agent.en"),
        CallEnded("e0", en, T0 + timedelta(minutes=1), 50.0, "completed", None),
        crm.accept("f0"),
        MediaConnected("f0", ar, T0 + timedelta(seconds=10)),
    ]
    opened = await crm.write_one_by_one(setup)
    ticket_a, ticket_b, ticket_d = opened[0][0], opened[3][0], opened[7][0]  # type: ignore[index]
    # A ticket already open but never answered (as data from before first responses were kept).
    async with crm.engine.begin() as db:
        await db.execute(
            update(TICKETS)
            .where(TICKETS.c.reference == ticket_d)
            .values(status=TicketStatus.OPEN, first_response_at=None)
        )
    return [
        WrapUpFinished("a0", ar, later, "transferred", "Explained pension dates"),
        crm.accept("n1", at=later),
        MediaConnected("c0", ar, later),
        crm.accept("b1", "agent.en", reference=ticket_b, at=later),
        crm.accept("a1", reference=ticket_a, at=later),
        crm.accept("n2", "agent.en", reference="VB-2026-999999", at=later),
        WrapUpFinished("b0", ar, later, "transferred", None),
        CallEnded("f0", ar, later, 290.0, "completed", "Will send the IBAN letter"),
        MediaConnected("d0", ar, later),
        WrapUpFinished("e0", en, later, None, "Call back on Sunday"),
        crm.accept("lost", reference=None, category="no_such_service", at=later),
        MediaConnected("no-such-call", ar, later),
        CallEnded("no-such-call", ar, later, None, "completed", "Nobody reads this"),
    ]


def _comparable(outcomes: list[Outcome]) -> list[Any]:
    return [
        repr(outcome)
        if isinstance(outcome, Exception)
        else outcome and (outcome[0], outcome[1] is not None)
        for outcome in outcomes
    ]


async def test_a_mixed_batch_writes_what_one_entry_at_a_time_writes(
    database_url: str, other_database_url: str
) -> None:
    async with _crm(database_url) as batched, _crm(other_database_url) as one_by_one:
        batch = await _mixed_batch(batched)
        commits = batched.commits
        batch_outcomes = await batched.write_all(batch)
        assert batched.commits == commits + 1

        entries = await _mixed_batch(one_by_one)
        in_call_order = sorted(range(len(entries)), key=lambda n: LIFECYCLE.index(type(entries[n])))
        written = await one_by_one.write_one_by_one([entries[n] for n in in_call_order])
        outcomes: list[Outcome] = [None] * len(entries)
        for n, outcome in zip(in_call_order, written, strict=True):
            outcomes[n] = outcome

        assert _comparable(batch_outcomes) == _comparable(outcomes)
        assert await _crm_rows(batched.engine) == await _crm_rows(one_by_one.engine)

    # What one entry at a time writes is what each step has always written.
    ar, en = batched.agents["agent.ar"], batched.agents["agent.en"]
    later = T0 + timedelta(minutes=5)
    assert isinstance(batch_outcomes[10], LookupError)
    assert "no_such_service" in str(batch_outcomes[10])
    _, n1, _, b1, a1, n2 = batch_outcomes[:6]
    assert b1 == ("VB-2026-000002", None) and a1 == ("VB-2026-000001", None)
    assert isinstance(n1, tuple) and isinstance(n2, tuple) and n1[1] and n2[1]  # new tickets
    engine = create_engine(database_url)
    try:
        assert await _history(engine, "VB-2026-000001") == [
            ("created", ar, "new"),
            ("assignment", ar, ar),
            ("status_change", ar, "open"),
            ("note", ar, "Explained pension dates"),
        ]
        assert await _history(engine, "VB-2026-000002") == [
            ("created", ar, "new"),
            ("assignment", ar, ar),
            ("status_change", ar, "open"),
            ("note", ar, "To pensions"),
            ("assignment", en, en),
        ]
        ticket_b = await _ticket(engine, "VB-2026-000002")
        assert (ticket_b.assigned_agent_id, ticket_b.updated_at) == (en, later)
        ticket_c = await _ticket(engine, "VB-2026-000003")
        assert (ticket_c.status, ticket_c.first_response_at) == (TicketStatus.OPEN, later)
        ticket_d = await _ticket(engine, "VB-2026-000004")
        assert (ticket_d.status, ticket_d.first_response_at) == (TicketStatus.OPEN, later)
        assert await _history(engine, "VB-2026-000004") == [
            ("created", ar, "new"),
            ("assignment", ar, ar),
        ]
        assert (await _history(engine, "VB-2026-000005"))[-1] == ("note", en, "Call back on Sunday")
        async with engine.connect() as db:
            calls = {row.call_id: row for row in await db.execute(select(CALLS))}
        assert (calls["a0"].outcome, calls["b0"].outcome, calls["e0"].outcome) == (
            "transferred",
            "transferred",
            None,
        )
        assert (calls["f0"].ended_at, calls["f0"].talk_seconds, calls["f0"].end_reason) == (
            later,
            290.0,
            "completed",
        )
        assert calls["c0"].connected_at == later
        assert calls["b1"].ticket_id == ticket_b.id and "lost" not in calls
    finally:
        await engine.dispose()


# --- failures ------------------------------------------------------------------------------------


async def test_a_failing_entry_fails_alone(database_url: str) -> None:
    async with _crm(database_url) as crm:
        await crm.writer.write(crm.accept("taken"))
        entries: list[CallLogEntry] = [crm.accept(f"good-{n}") for n in range(5)]
        entries.insert(2, crm.accept("taken"))  # the call id is already recorded
        entries.insert(4, crm.accept("elsewhere", category="no_such_service"))
        entries.append(MediaConnected("taken", crm.agents["agent.ar"], T0))

        outcomes = await crm.write_all(entries)

        assert isinstance(outcomes[2], IntegrityError)
        assert isinstance(outcomes[4], LookupError)
        references = [
            outcome[0]  # type: ignore[index]
            for n, outcome in enumerate(outcomes[:-1])
            if n not in {2, 4}
        ]
        # Distinct and in order; PostgreSQL's sequence does not give back the failed batch's.
        assert references == sorted(set(references)) and len(references) == 5
        assert all(REFERENCE_PATTERN.fullmatch(reference) for reference in references)
        assert outcomes[-1] is None
        assert await _count(crm.engine, CALLS) == await _count(crm.engine, TICKETS) == 6
        first = await _ticket(crm.engine, "VB-2026-000001")
        assert (first.status, first.first_response_at) == (TicketStatus.OPEN, T0)


async def test_shutdown_writes_every_pending_entry_then_refuses(database_url: str) -> None:
    async with _crm(database_url) as crm:
        waiting = [
            asyncio.create_task(crm.writer.write(crm.accept(f"call-{n}"))) for n in range(20)
        ]
        await asyncio.sleep(0)  # all submitted; the writer has not had its turn yet

        await crm.writer.close()

        assert all(task.done() and task.exception() is None for task in waiting)
        assert await _count(crm.engine, CALLS) == 20
        with pytest.raises(CallLogClosed, match="shut down"):
            await crm.writer.write(crm.accept("too-late"))


async def test_the_app_writes_the_call_log_before_closing_the_database(
    settings: Settings, database_url: str
) -> None:
    await _seed(database_url)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    engine = create_engine(database_url)
    try:
        crm = Crm(engine, app[CALL_LOG], *await _terms_and_agents(engine))
        waiting = [
            asyncio.create_task(app[CALL_LOG].write(crm.accept(f"call-{n}"))) for n in range(10)
        ]
        await asyncio.sleep(0)

        await runner.cleanup()

        assert all(task.done() and task.exception() is None for task in waiting)
        assert await _count(engine, CALLS) == 10
    finally:
        await engine.dispose()


async def test_entries_fail_at_once_when_the_writer_dies(database_url: str) -> None:
    async with _crm(database_url, pool_size=1, max_overflow=0) as crm:
        async with crm.engine.connect():  # the writer waits for the one connection meanwhile
            waiting = [
                asyncio.create_task(crm.writer.write(crm.accept(f"call-{n}"))) for n in range(3)
            ]
            await asyncio.sleep(0.1)
            [writer] = [
                task for task in asyncio.all_tasks() if task.get_name() == "call log writer"
            ]
            writer.cancel()
            async with asyncio.timeout(5):
                outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(outcome, CallLogClosed) for outcome in outcomes)
        with pytest.raises(CallLogClosed, match="stopped"):
            await crm.writer.write(crm.accept("after"))
