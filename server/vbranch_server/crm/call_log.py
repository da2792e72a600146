"""What a video call writes to the CRM: the four entries of its call log, and their tables.

A call writes an entry at accept (the ticket and the call record), when media connects (first
response), at hang-up and at the end of wrap-up. They run on the signaling path for every call,
so `call_log_writer` writes every entry pending in one transaction, each kind of row with one
statement for the whole batch (`call_log_accepts`, `call_log_follow_ups`): SQLAlchemy Core on the
tables, no ORM session, no identity map, none of the eager loads a whole `Ticket` brings. The
ticket rules stay those of `crm.tickets`: the same reference numbers, SLA deadlines and history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from vbranch_server.crm.calendars import calendar_from_row
from vbranch_server.db.models import (
    BusinessCalendarRow,
    CallRecord,
    Customer,
    ServiceCategory,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from vbranch_server.sla import BusinessCalendar

# Declarative classes type their table loosely (a FromClause): these are the tables.
TICKETS = cast(Table, Ticket.__table__)
CALLS = cast(Table, CallRecord.__table__)
EVENTS = cast(Table, TicketEvent.__table__)
CUSTOMERS = cast(Table, Customer.__table__)


@dataclass(frozen=True)
class CategoryTerms:
    """What opening a ticket needs of its service category."""

    id: int
    calendar: BusinessCalendar
    first_response_working_days: int
    resolution_working_days: int


async def active_category_terms(session: AsyncSession) -> dict[str, CategoryTerms]:
    """The terms of every active service category, by code."""
    rows = await session.scalars(
        select(ServiceCategory)
        .where(ServiceCategory.active)
        .options(
            selectinload(ServiceCategory.calendar).selectinload(BusinessCalendarRow.custom_holidays)
        )
    )
    return {
        row.code: CategoryTerms(
            id=row.id,
            calendar=calendar_from_row(row.calendar),
            first_response_working_days=row.first_response_working_days,
            resolution_working_days=row.resolution_working_days,
        )
        for row in rows
    }


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


@dataclass(frozen=True)
class CallAccepted:
    """The call record, on the visit's ticket if it has one (after a transfer or a lost agent:
    the ticket goes to this agent) or else on a new ticket in the service's category."""

    start: CallStart
    caller: Caller
    ticket_reference: str | None
    category: str
    #: None when the category is unknown or inactive: no new ticket can be opened in it.
    terms: CategoryTerms | None


@dataclass(frozen=True)
class MediaConnected:
    """The customer first saw an agent: the ticket's first response, and a new ticket opens."""

    call_id: str
    agent_id: int
    at: datetime


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    agent_id: int
    at: datetime
    talk_seconds: float | None
    end_reason: str | None
    note: str | None


@dataclass(frozen=True)
class WrapUpFinished:
    call_id: str
    agent_id: int
    at: datetime
    outcome: str | None
    notes: str | None


#: The entries after the accept, on the call's record.
FollowUp = MediaConnected | CallEnded | WrapUpFinished
CallLogEntry = CallAccepted | FollowUp
#: What an accept gives back: the ticket's reference and, for a new ticket, its secret code
#: (shown to the customer once, stored hashed).
Opened = tuple[str, str | None]
#: Per entry: its result, or the error that refused it without writing anything of it.
Outcome = Opened | Exception | None


@dataclass
class TicketNow:
    """What a batch knows of a ticket it changes, kept current as each entry is applied.

    Read FOR UPDATE, so on PostgreSQL the decisions taken on it (reassign, open) still hold when
    written; in id order, so two batches lock in the same order. SQLite has one writer, and the
    application's single pooled connection is the batch's until it commits.
    """

    id: int
    assigned_agent_id: int | None
    status: TicketStatus
    first_response_at: datetime | None


TICKET_NOW_COLUMNS = (
    TICKETS.c.id,
    TICKETS.c.assigned_agent_id,
    TICKETS.c.status,
    TICKETS.c.first_response_at,
)
