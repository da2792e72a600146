"""The video call's writes to the CRM, as a few plain SQL statements per step.

A call touches the database four times: at accept (the ticket and the call record), when media
connects (first response), at hang-up and at the end of wrap-up. These run on the signaling
path for every call, so they use SQLAlchemy Core on one connection: statements on the tables rather
than the mapped classes, so no ORM session, no identity map, no ORM bulk-persistence pass and
none of the eager relationship loads that reading a whole `Ticket` brings (category,
calendar, holidays, customer, agent). The ticket rules stay those of `crm.tickets`: the same
reference numbers, SLA deadlines and history lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vbranch_server.crm.rules import hash_secret_code, new_secret_code
from vbranch_server.crm.tickets import deadlines_for, event_row, next_reference
from vbranch_server.db.models import (
    CallRecord,
    Customer,
    Ticket,
    TicketChannel,
    TicketEvent,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
)
from vbranch_server.sla import BusinessCalendar

TICKETS = Ticket.__table__
CALLS = CallRecord.__table__
EVENTS = TicketEvent.__table__
CUSTOMERS = Customer.__table__


@dataclass(frozen=True)
class CategoryTerms:
    """What opening a ticket needs of its service category."""

    id: int
    calendar: BusinessCalendar
    first_response_working_days: int
    resolution_working_days: int


@dataclass(frozen=True)
class CallStart:
    call_id: str
    agent_id: int
    visit_id: str
    queue: str
    enqueued_at: datetime
    accepted_at: datetime
    wait_seconds: float


@dataclass(frozen=True)
class Caller:
    display_name: str | None
    phone: str | None
    language: str


async def _add_events(db: AsyncConnection, rows: list[dict[str, object]]) -> None:
    await db.execute(insert(EVENTS), rows)


async def _record_call(db: AsyncConnection, ticket_id: int, start: CallStart) -> None:
    await db.execute(
        insert(CALLS).values(
            call_id=start.call_id,
            ticket_id=ticket_id,
            agent_id=start.agent_id,
            visit_id=start.visit_id,
            queue=start.queue,
            enqueued_at=start.enqueued_at,
            accepted_at=start.accepted_at,
            wait_seconds=start.wait_seconds,
        )
    )


async def continue_ticket(db: AsyncConnection, reference: str, start: CallStart) -> bool:
    """A call on the visit's existing ticket (after a transfer or a lost agent): the ticket goes
    to this agent, the history says so. False when no ticket has that reference."""
    row = (
        await db.execute(
            select(TICKETS.c.id, TICKETS.c.assigned_agent_id).where(
                TICKETS.c.reference == reference
            )
        )
    ).first()
    if row is None:
        return False
    ticket_id, assigned = row
    if assigned != start.agent_id:
        await db.execute(
            update(TICKETS)
            .where(TICKETS.c.id == ticket_id)
            .values(assigned_agent_id=start.agent_id, updated_at=start.accepted_at)
        )
        await _add_events(
            db,
            [
                event_row(
                    ticket_id,
                    TicketEventKind.ASSIGNMENT,
                    start.accepted_at,
                    start.agent_id,
                    assigned_to_id=start.agent_id,
                )
            ],
        )
    await _record_call(db, ticket_id, start)
    return True


async def open_video_ticket(
    db: AsyncConnection, category: CategoryTerms, caller: Caller, start: CallStart
) -> tuple[str, str]:
    """A new ticket for the caller, assigned to the accepting agent, with its call record.
    Returns the reference and the secret code (shown to the customer once, stored hashed)."""
    now = start.accepted_at
    # First of our writes: on SQLite the transaction takes the write lock here.
    reference = await next_reference(db, now.astimezone(category.calendar.zone).year)
    customer_id = await db.scalar(
        insert(CUSTOMERS)
        .values(
            display_name=caller.display_name,
            phone=caller.phone,
            preferred_language=caller.language,
            created_at=now,
        )
        .returning(CUSTOMERS.c.id)
    )
    deadlines = deadlines_for(
        category.calendar,
        category.first_response_working_days,
        category.resolution_working_days,
        now,
    )
    code = new_secret_code()
    ticket_id = await db.scalar(
        insert(TICKETS)
        .values(
            reference=reference,
            secret_code_hash=hash_secret_code(code),
            status=TicketStatus.NEW,
            priority=TicketPriority.NORMAL,
            channel=TicketChannel.VIDEO,
            subject="Video visit",
            language=caller.language,
            category_id=category.id,
            customer_id=customer_id,
            assigned_agent_id=start.agent_id,
            created_at=now,
            updated_at=now,
            first_response_due_at=deadlines.first_response_due_at,
            resolution_due_at=deadlines.resolution_due_at,
            resolution_at_risk_at=deadlines.resolution_at_risk_at,
        )
        .returning(TICKETS.c.id)
    )
    assert ticket_id is not None
    await _add_events(
        db,
        [
            event_row(
                ticket_id,
                TicketEventKind.CREATED,
                now,
                start.agent_id,
                to_status=TicketStatus.NEW,
            ),
            event_row(
                ticket_id,
                TicketEventKind.ASSIGNMENT,
                now,
                start.agent_id,
                assigned_to_id=start.agent_id,
            ),
        ],
    )
    await _record_call(db, ticket_id, start)
    return reference, code


async def media_connected(db: AsyncConnection, call_id: str, agent_id: int, now: datetime) -> None:
    """The customer first saw an agent: the ticket's first response, and a new ticket opens."""
    ticket_id = await db.scalar(
        update(CALLS)
        .where(CALLS.c.call_id == call_id)
        .values(connected_at=now)
        .returning(CALLS.c.ticket_id)
    )
    if ticket_id is None:
        return
    opened = await db.scalar(
        update(TICKETS)
        .where(TICKETS.c.id == ticket_id, TICKETS.c.status == TicketStatus.NEW)
        .values(status=TicketStatus.OPEN, first_response_at=now, updated_at=now)
        .returning(TICKETS.c.id)
    )
    if opened is not None:
        await _add_events(
            db,
            [
                event_row(
                    ticket_id,
                    TicketEventKind.STATUS_CHANGE,
                    now,
                    agent_id,
                    from_status=TicketStatus.NEW,
                    to_status=TicketStatus.OPEN,
                )
            ],
        )
        return
    await db.execute(
        update(TICKETS)
        .where(TICKETS.c.id == ticket_id, TICKETS.c.first_response_at.is_(None))
        .values(first_response_at=now)
    )


async def _note(
    db: AsyncConnection, ticket_id: int, body: str, agent_id: int, now: datetime
) -> None:
    await db.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(updated_at=now))
    await _add_events(db, [event_row(ticket_id, TicketEventKind.NOTE, now, agent_id, body=body)])


async def call_ended(
    db: AsyncConnection,
    call_id: str,
    *,
    ended_at: datetime,
    talk_seconds: float | None,
    end_reason: str | None,
    note: str | None,
    agent_id: int,
) -> None:
    ticket_id = await db.scalar(
        update(CALLS)
        .where(CALLS.c.call_id == call_id)
        .values(ended_at=ended_at, talk_seconds=talk_seconds, end_reason=end_reason)
        .returning(CALLS.c.ticket_id)
    )
    if ticket_id is not None and note:
        await _note(db, ticket_id, note, agent_id, ended_at)


async def wrap_up_finished(
    db: AsyncConnection,
    call_id: str,
    *,
    outcome: str | None,
    notes: str | None,
    agent_id: int,
    now: datetime,
) -> None:
    ticket_id = await db.scalar(
        update(CALLS)
        .where(CALLS.c.call_id == call_id)
        .values(outcome=outcome)
        .returning(CALLS.c.ticket_id)
    )
    if ticket_id is not None and notes:
        await _note(db, ticket_id, notes, agent_id, now)
