"""The SLA board: open tickets at risk or breached, soonest due first (read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.crm.rules import FINISHED_STATUSES
from vbranch_server.crm.tickets import sla_clause, ticket_sla_state
from vbranch_server.db.models import Ticket
from vbranch_server.sla import SlaState

BOARD_LIMIT = 200


async def sla_board(db: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    query = (
        select(Ticket)
        .where(
            Ticket.status.not_in(FINISHED_STATUSES),
            # Implied by the clause below (a clock stopped at or before now); lets the index help.
            Ticket.resolution_at_risk_at <= now,
            # As the ticket list judges them: a pending ticket at the moment its clock stopped.
            or_(sla_clause(SlaState.AT_RISK, now), sla_clause(SlaState.BREACHED, now)),
        )
        .order_by(Ticket.resolution_due_at, Ticket.id)
        .limit(BOARD_LIMIT)
    )
    return [
        {
            "reference": t.reference,
            "subject": t.subject,
            "status": t.status.value,
            "sla_state": ticket_sla_state(t, now).value,
            "due_at": t.resolution_due_at.isoformat(),
            "category": {
                "code": t.category.code,
                "name": {"ar": t.category.name_ar, "en": t.category.name_en},
            },
            "agent": t.assigned_agent.display_name if t.assigned_agent else None,
        }
        for t in (await db.scalars(query)).unique().all()
    ]
