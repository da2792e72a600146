"""Read-only questions the agent console asks of the CRM: today's figures, a customer's past, my queue.

Visibility is decided by the caller (a ticket already passed `get_visible_ticket`); these only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.crm.rules import FINISHED_STATUSES
from vbranch_server.db.models import Attachment, CallRecord, StaffUser, Ticket


@dataclass(frozen=True)
class DayFigures:
    calls: int
    #: None when no call of the day has ended yet: "no average" is not "zero seconds".
    average_talk_seconds: float | None


@dataclass(frozen=True)
class PastCall:
    call_id: str
    ticket_reference: str
    agent_name: str
    accepted_at: datetime
    talk_seconds: float | None
    end_reason: str | None
    outcome: str | None


async def agent_day(
    session: AsyncSession, agent_id: int, start: datetime, end: datetime
) -> DayFigures:
    """Calls the agent accepted in [start, end) and their average talk time."""
    row = (
        await session.execute(
            select(func.count(CallRecord.id), func.avg(CallRecord.talk_seconds)).where(
                CallRecord.agent_id == agent_id,
                CallRecord.accepted_at >= start,
                CallRecord.accepted_at < end,
            )
        )
    ).one()
    calls, average = row
    return DayFigures(int(calls), None if average is None else float(average))


async def customer_tickets(
    session: AsyncSession, customer_id: int, *, limit: int = 20
) -> Sequence[Ticket]:
    query = (
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def customer_calls(
    session: AsyncSession, customer_id: int, *, limit: int = 20
) -> list[PastCall]:
    query = (
        select(CallRecord, Ticket.reference, StaffUser.display_name)
        .join(Ticket, Ticket.id == CallRecord.ticket_id)
        .join(StaffUser, StaffUser.id == CallRecord.agent_id)
        .where(Ticket.customer_id == customer_id)
        .order_by(CallRecord.accepted_at.desc(), CallRecord.id.desc())
        .limit(limit)
    )
    return [
        PastCall(
            call_id=record.call_id,
            ticket_reference=reference,
            agent_name=agent_name,
            accepted_at=record.accepted_at,
            talk_seconds=record.talk_seconds,
            end_reason=record.end_reason,
            outcome=record.outcome,
        )
        for record, reference, agent_name in (await session.execute(query)).all()
    ]


async def ticket_attachments(session: AsyncSession, ticket_id: int) -> Sequence[Attachment]:
    query = select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
    return (await session.scalars(query)).all()


async def open_tickets_of(
    session: AsyncSession, agent_id: int, *, limit: int = 200
) -> Sequence[Ticket]:
    """The agent's unfinished tickets, the most urgent (earliest resolution due) first."""
    query = (
        select(Ticket)
        .where(Ticket.assigned_agent_id == agent_id, Ticket.status.not_in(FINISHED_STATUSES))
        .order_by(Ticket.resolution_due_at, Ticket.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()
