"""The audit log of supervisor actions: written by the call hub's port, read by the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbranch_server.db.models import SupervisorAction

#: The actions the hub audits (docs/protocol.md, `/supervisor`).
ACTIONS = ("set_priority", "move", "offer_to", "set_agent_state", "remove_from_line")


async def record_action(
    db: AsyncSession,
    staff_id: int,
    action: str,
    target: str,
    details: dict[str, Any],
    at: datetime,
) -> None:
    if action not in ACTIONS:
        raise ValueError(f"not an audited action: {action!r}")
    db.add(
        SupervisorAction(
            staff_id=staff_id, created_at=at, action=action, target=target, details=details
        )
    )


async def recent_actions(db: AsyncSession, limit: int) -> Sequence[SupervisorAction]:
    """The newest first."""
    query = select(SupervisorAction).order_by(
        SupervisorAction.created_at.desc(), SupervisorAction.id.desc()
    )
    return (await db.scalars(query.limit(limit))).all()
