"""Tickets in the database: creation with SLA clocks, status changes, notes, listing and lookup.

Every change writes its line in the append-only history in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from vbranch_server.crm.calendars import calendar_from_row
from vbranch_server.crm.rules import (
    FINISHED_STATUSES,
    check_transition,
    format_reference,
    hash_secret_code,
    new_secret_code,
    secret_code_matches,
)
from vbranch_server.db.models import (
    Customer,
    ServiceCategory,
    StaffRole,
    StaffUser,
    Ticket,
    TicketChannel,
    TicketCounter,
    TicketEvent,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
)
from vbranch_server.sla import (
    BusinessCalendar,
    SlaState,
    after_working_seconds,
    at_risk_from,
    sla_state,
    working_days_after,
    working_seconds_between,
)


class NotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class NewTicket:
    category_code: str
    subject: str
    channel: TicketChannel
    priority: TicketPriority = TicketPriority.NORMAL
    language: str = "ar"
    customer_id: int | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    assigned_agent_id: int | None = None


@dataclass(frozen=True)
class CreatedTicket:
    ticket: Ticket
    #: Shown to the customer once; only its hash is stored.
    secret_code: str


@dataclass(frozen=True)
class TicketFilter:
    status: TicketStatus | None = None
    sla: SlaState | None = None
    agent_id: int | None = None
    category_code: str | None = None
    limit: int = 50
    offset: int = 0


def ticket_sla_state(ticket: Ticket, now: datetime) -> SlaState:
    # A finished ticket is judged at the moment it was resolved, a pending one at the moment
    # its clock stopped, not now. `sla_clause` is the same rule in SQL.
    at = now
    if ticket.status in FINISHED_STATUSES and ticket.resolved_at:
        at = ticket.resolved_at
    elif ticket.status is TicketStatus.PENDING and ticket.pending_since:
        at = ticket.pending_since
    return sla_state(at, ticket.resolution_at_risk_at, ticket.resolution_due_at)


def resumed_deadlines(
    calendar: BusinessCalendar,
    pending_since: datetime,
    now: datetime,
    due: datetime,
    at_risk: datetime,
) -> tuple[datetime, datetime]:
    """(due, at risk) once a ticket pending since `pending_since` resumes at `now` (in UTC).

    Both move later by the opening time that passed while the ticket waited on the customer:
    nights, weekends and holidays gave the staff no time, so they give none back. A ticket
    already late when it was paused keeps its deadlines: its breach happened, and moving the
    due time by the wait could leave it before the resumption (a pause after closing time).
    """
    if pending_since > due:
        return due, at_risk
    paused = working_seconds_between(calendar, pending_since, now)
    return (
        after_working_seconds(calendar, due, paused).astimezone(UTC),
        after_working_seconds(calendar, at_risk, paused).astimezone(UTC),
    )


Database = AsyncSession | AsyncConnection


def _dialect_name(db: Database) -> str:
    return db.dialect.name if isinstance(db, AsyncConnection) else db.get_bind().dialect.name


async def _bump_counter(db: Database, year: int, count: int) -> int:
    """Takes `count` numbers from the year's counter; the last one taken."""
    number = await db.scalar(
        update(TicketCounter)
        .where(TicketCounter.year == year)
        .values(last_number=TicketCounter.last_number + count)
        .returning(TicketCounter.last_number)
    )
    if number is not None:
        return number
    # First ticket of the year: create the counter. A concurrent creator may win the race;
    # the savepoint keeps the transaction usable and the retry then bumps their row.
    try:
        async with db.begin_nested():
            await db.execute(insert(TicketCounter).values(year=year, last_number=0))
    except IntegrityError:
        pass
    return await _bump_counter(db, year, count)


async def next_references(db: Database, year: int, count: int) -> list[str]:
    """The next `count` references VB-YYYY-NNNNNN, in increasing order; never the same twice.

    PostgreSQL: a sequence per year. `nextval` takes no row lock, so concurrent creators never
    wait for each other's transactions (a counter row would be locked until each commit).
    SQLite has a single writer anyway: a counter row bumped in the creating transaction.
    Either way one statement hands out the numbers of a whole batch of new tickets.
    """
    if _dialect_name(db) != "postgresql":
        last = await _bump_counter(db, year, count)
        return [format_reference(year, number) for number in range(last - count + 1, last + 1)]
    sequence = f"ticket_reference_{year:04d}"
    try:
        async with db.begin_nested():
            await db.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {sequence}"))
    except DBAPIError:
        pass  # a concurrent first ticket of the year created it first
    numbers = await db.scalars(
        text(f"SELECT nextval('{sequence}') FROM generate_series(1, CAST(:count AS integer))"),
        {"count": count},
    )
    return [format_reference(year, int(number)) for number in sorted(numbers)]


async def next_reference(db: Database, year: int) -> str:
    return (await next_references(db, year, 1))[0]


@dataclass(frozen=True)
class Deadlines:
    first_response_due_at: datetime
    resolution_due_at: datetime
    resolution_at_risk_at: datetime


def deadlines_for(
    calendar: BusinessCalendar, first_response_days: int, resolution_days: int, now: datetime
) -> Deadlines:
    """A new ticket's SLA clocks, counted in the category's working days (stored in UTC)."""
    due = working_days_after(calendar, now, resolution_days).astimezone(UTC)
    return Deadlines(
        first_response_due_at=working_days_after(calendar, now, first_response_days).astimezone(
            UTC
        ),
        resolution_due_at=due,
        resolution_at_risk_at=at_risk_from(calendar, now, due).astimezone(UTC),
    )


def event_row(
    ticket_id: int,
    kind: TicketEventKind,
    now: datetime,
    actor_id: int | None,
    *,
    body: str | None = None,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    assigned_to_id: int | None = None,
) -> dict[str, Any]:
    """One line of a ticket's history, as column values."""
    return {
        "ticket_id": ticket_id,
        "kind": kind,
        "actor_staff_id": actor_id,
        # Who acted when no staff member did.
        "actor_label": None
        if actor_id is not None
        else "customer"
        if kind is TicketEventKind.NOTE
        else "system",
        "body": body,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value if to_status else None,
        "assigned_to_id": assigned_to_id,
        "created_at": now,
    }


async def _category(session: AsyncSession, code: str) -> ServiceCategory:
    category = await session.scalar(
        select(ServiceCategory).where(ServiceCategory.code == code, ServiceCategory.active)
    )
    if category is None:
        raise NotFoundError(f"unknown service category {code!r}")
    return category


async def create_ticket(
    session: AsyncSession, new: NewTicket, now: datetime, actor: StaffUser | None
) -> CreatedTicket:
    category = await _category(session, new.category_code)
    calendar = calendar_from_row(category.calendar)
    # Before any write of ours: on SQLite our transaction must not hold the write lock yet.
    reference = await next_reference(session, now.astimezone(calendar.zone).year)
    if new.customer_id is not None:
        customer = await session.get(Customer, new.customer_id)
        if customer is None:
            raise NotFoundError(f"unknown customer {new.customer_id}")
    else:
        customer = Customer(
            display_name=new.customer_name,
            phone=new.customer_phone,
            preferred_language=new.language,
            created_at=now,
        )
        session.add(customer)
        await session.flush()

    # Stored and shown in UTC; pages convert to the reader's zone.
    deadlines = deadlines_for(
        calendar, category.first_response_working_days, category.resolution_working_days, now
    )
    code = new_secret_code()
    ticket = Ticket(
        reference=reference,
        secret_code_hash=hash_secret_code(code),
        status=TicketStatus.NEW,
        priority=new.priority,
        channel=new.channel,
        subject=new.subject,
        language=new.language,
        category=category,
        customer=customer,
        assigned_agent_id=new.assigned_agent_id,
        created_at=now,
        updated_at=now,
        first_response_due_at=deadlines.first_response_due_at,
        resolution_due_at=deadlines.resolution_due_at,
        resolution_at_risk_at=deadlines.resolution_at_risk_at,
    )
    session.add(ticket)
    await session.flush()
    _record(session, ticket, TicketEventKind.CREATED, now, actor, to_status=TicketStatus.NEW)
    if new.assigned_agent_id is not None:
        _record(
            session,
            ticket,
            TicketEventKind.ASSIGNMENT,
            now,
            actor,
            assigned_to_id=new.assigned_agent_id,
        )
    await session.flush()
    # Load the assignee now: async sessions cannot lazy-load it later when the ticket is shown.
    await session.refresh(ticket, ["assigned_agent"])
    return CreatedTicket(ticket=ticket, secret_code=code)


def _record(
    session: AsyncSession,
    ticket: Ticket,
    kind: TicketEventKind,
    now: datetime,
    actor: StaffUser | None,
    *,
    body: str | None = None,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    assigned_to_id: int | None = None,
) -> None:
    session.add(
        TicketEvent(
            **event_row(
                ticket.id,
                kind,
                now,
                actor.id if actor else None,
                body=body,
                from_status=from_status,
                to_status=to_status,
                assigned_to_id=assigned_to_id,
            )
        )
    )


async def change_status(
    session: AsyncSession,
    ticket: Ticket,
    target: TicketStatus,
    now: datetime,
    actor: StaffUser,
    note: str | None = None,
) -> Ticket:
    check_transition(ticket.status, target)
    previous = ticket.status
    if target is TicketStatus.PENDING:
        # Waiting on the customer: the resolution clock stops until the ticket leaves pending.
        ticket.pending_since = now
    elif previous is TicketStatus.PENDING:
        # Shifted before `resolved_at` is set, so a ticket resolved straight from pending is
        # judged against the deadline it has after the wait. (No `pending_since`: the clock
        # was never stopped, nothing to give back.)
        if ticket.pending_since is not None:
            ticket.resolution_due_at, ticket.resolution_at_risk_at = resumed_deadlines(
                calendar_from_row(ticket.category.calendar),
                ticket.pending_since,
                now,
                ticket.resolution_due_at,
                ticket.resolution_at_risk_at,
            )
        ticket.pending_since = None
    ticket.status = target
    ticket.updated_at = now
    if target is TicketStatus.OPEN and ticket.first_response_at is None:
        ticket.first_response_at = now
    if target is TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif target is TicketStatus.OPEN:
        ticket.resolved_at = None
    if target is TicketStatus.CLOSED:
        ticket.closed_at = now
    _record(
        session,
        ticket,
        TicketEventKind.STATUS_CHANGE,
        now,
        actor,
        body=note,
        from_status=previous,
        to_status=target,
    )
    await session.flush()
    return ticket


async def assign(
    session: AsyncSession, ticket: Ticket, agent_id: int, now: datetime, actor: StaffUser | None
) -> None:
    """Hand the ticket to another agent (a transfer, a reconnection); the history keeps who had it."""
    if ticket.assigned_agent_id == agent_id:
        return
    ticket.assigned_agent_id = agent_id
    ticket.updated_at = now
    _record(session, ticket, TicketEventKind.ASSIGNMENT, now, actor, assigned_to_id=agent_id)
    await session.flush()


async def add_note(
    session: AsyncSession, ticket: Ticket, body: str, now: datetime, actor: StaffUser | None
) -> None:
    ticket.updated_at = now
    _record(session, ticket, TicketEventKind.NOTE, now, actor, body=body)
    await session.flush()


def _served_customers(user: StaffUser) -> Select[int]:
    """Customers whose tickets the agent was ever assigned to (now, or in the history)."""
    return select(Ticket.customer_id).where(
        or_(
            Ticket.assigned_agent_id == user.id,
            exists().where(
                TicketEvent.ticket_id == Ticket.id, TicketEvent.assigned_to_id == user.id
            ),
        )
    )


def _visible_to(query: Select[Ticket], user: StaffUser) -> Select[Ticket]:
    """Agents see the tickets of customers they have served; supervisors and admins see all."""
    if user.role is not StaffRole.AGENT:
        return query
    return query.where(Ticket.customer_id.in_(_served_customers(user)))


async def may_serve_customer(session: AsyncSession, user: StaffUser, customer_id: int) -> bool:
    """Whether a staff member may open a ticket for an existing customer.

    Without this, an agent could open a ticket for any customer id and so gain sight of that
    customer's whole history.
    """
    if user.role is not StaffRole.AGENT:
        return True
    served = _served_customers(user).where(Ticket.customer_id == customer_id)
    return await session.scalar(served.limit(1)) is not None


def sla_clause(state: SlaState, now: datetime) -> ColumnElement[bool]:
    """Tickets in SLA `state` at `now`: `ticket_sla_state` in SQL.

    A finished ticket is judged at `resolved_at`, a pending one at `pending_since` (its clock
    stopped there), any other at `now`.
    """
    finished = Ticket.status.in_(FINISHED_STATUSES)
    paused = and_(Ticket.status == TicketStatus.PENDING, Ticket.pending_since.is_not(None))
    running = and_(~finished, ~paused)
    late = or_(
        and_(running, Ticket.resolution_due_at < now),
        and_(paused, Ticket.pending_since > Ticket.resolution_due_at),
        and_(finished, Ticket.resolved_at > Ticket.resolution_due_at),
    )
    if state is SlaState.BREACHED:
        return late
    at_risk = or_(
        and_(running, Ticket.resolution_at_risk_at <= now, Ticket.resolution_due_at >= now),
        and_(
            paused,
            Ticket.pending_since >= Ticket.resolution_at_risk_at,
            Ticket.pending_since <= Ticket.resolution_due_at,
        ),
        and_(
            finished,
            Ticket.resolved_at >= Ticket.resolution_at_risk_at,
            Ticket.resolved_at <= Ticket.resolution_due_at,
        ),
    )
    if state is SlaState.AT_RISK:
        return at_risk
    return and_(~late, ~at_risk)


async def list_tickets(
    session: AsyncSession, user: StaffUser, filters: TicketFilter, now: datetime
) -> Sequence[Ticket]:
    query = select(Ticket)
    if filters.status is not None:
        query = query.where(Ticket.status == filters.status)
    if filters.agent_id is not None:
        query = query.where(Ticket.assigned_agent_id == filters.agent_id)
    if filters.category_code is not None:
        query = query.join(ServiceCategory).where(ServiceCategory.code == filters.category_code)
    if filters.sla is not None:
        query = query.where(sla_clause(filters.sla, now))
    query = _visible_to(query, user)
    query = query.order_by(Ticket.resolution_due_at, Ticket.id)
    return (await session.scalars(query.limit(filters.limit).offset(filters.offset))).all()


async def get_visible_ticket(session: AsyncSession, user: StaffUser, reference: str) -> Ticket:
    query = _visible_to(select(Ticket).where(Ticket.reference == reference), user)
    ticket = await session.scalar(query)
    if ticket is None:
        # The same answer whether it does not exist or is not this agent's: no probing.
        raise NotFoundError(f"no ticket {reference}")
    return ticket


async def ticket_history(session: AsyncSession, ticket: Ticket) -> Sequence[TicketEvent]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    return (await session.scalars(query)).all()


async def find_for_customer(session: AsyncSession, reference: str, code: str) -> Ticket:
    """The customer's follow-up: the reference alone is never enough."""
    ticket = await session.scalar(select(Ticket).where(Ticket.reference == reference))
    if ticket is None or not secret_code_matches(code, ticket.secret_code_hash):
        raise NotFoundError("no ticket matches this reference and code")
    return ticket
