"""The call hub's CRM on the database: tickets opened at accept, call records, wrap-up notes."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select

from vbranch_queue.core.model import Needs
from vbranch_server.crm import tickets as crm
from vbranch_server.db.models import (
    CallRecord,
    ServiceCategory,
    StaffUser,
    Ticket,
    TicketChannel,
    TicketStatus,
)
from vbranch_server.keys import DB
from vbranch_signaling.calls import CallSession
from vbranch_signaling.registry import Visit


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class DatabaseCrm:
    def __init__(self, app: web.Application) -> None:
        # The database opens at start-up, after the hub is built: look it up at each call.
        self.app = app

    async def has_category(self, code: str) -> bool:
        async with self.app[DB]() as db:
            found = await db.scalar(
                select(ServiceCategory.id).where(
                    ServiceCategory.code == code, ServiceCategory.active
                )
            )
        return found is not None

    async def agent_name(self, agent_id: str) -> str:
        async with self.app[DB]() as db:
            user = await db.get(StaffUser, int(agent_id))
        return user.display_name if user else ""

    async def open_ticket(self, call: CallSession, visit: Visit) -> tuple[str, str | None]:
        now = _at(call.accepted_at) or datetime.now(UTC)
        agent_id = int(call.agent_id)
        async with self.app[DB]() as db, db.begin():
            agent = await db.get(StaffUser, agent_id)
            if visit.ticket_reference is not None:
                ticket = await db.scalar(
                    select(Ticket).where(Ticket.reference == visit.ticket_reference)
                )
                if ticket is not None:
                    await crm.assign(db, ticket, agent_id, now, agent)
                    await self._record(db, call, ticket, now)
                    return ticket.reference, None
            needs = Needs.from_bucket(call.bucket)
            created = await crm.create_ticket(
                db,
                crm.NewTicket(
                    category_code=needs.category,
                    subject="Video visit",
                    channel=TicketChannel.VIDEO,
                    language=needs.language,
                    customer_name=visit.display_name,
                    customer_phone=visit.phone,
                    assigned_agent_id=agent_id,
                ),
                now,
                agent,
            )
            await self._record(db, call, created.ticket, now)
            return created.ticket.reference, created.secret_code

    async def _record(self, db, call: CallSession, ticket: Ticket, now: datetime) -> None:  # type: ignore[no-untyped-def]
        db.add(
            CallRecord(
                call_id=call.call_id,
                ticket_id=ticket.id,
                agent_id=int(call.agent_id),
                visit_id=call.customer_id,
                queue=call.bucket,
                enqueued_at=_at(call.enqueued_at),
                accepted_at=now,
                wait_seconds=max(0.0, (call.accepted_at or call.enqueued_at) - call.enqueued_at),
            )
        )

    async def _call_and_ticket(self, db, call_id: str) -> tuple[CallRecord, Ticket] | None:  # type: ignore[no-untyped-def]
        record = await db.scalar(select(CallRecord).where(CallRecord.call_id == call_id))
        if record is None:
            return None
        return record, await db.get(Ticket, record.ticket_id)

    async def call_connected(self, call: CallSession) -> None:
        now = _at(call.connected_at) or datetime.now(UTC)
        async with self.app[DB]() as db, db.begin():
            found = await self._call_and_ticket(db, call.call_id)
            if found is None:
                return
            record, ticket = found
            record.connected_at = now
            agent = await db.get(StaffUser, int(call.agent_id))
            # The first response is the moment the customer first saw an agent.
            if ticket.status is TicketStatus.NEW and agent is not None:
                await crm.change_status(db, ticket, TicketStatus.OPEN, now, agent)
            elif ticket.first_response_at is None:
                ticket.first_response_at = now

    async def call_ended(self, call: CallSession, note: str | None) -> None:
        async with self.app[DB]() as db, db.begin():
            found = await self._call_and_ticket(db, call.call_id)
            if found is None:
                return
            record, ticket = found
            record.ended_at = _at(call.ended_at)
            record.talk_seconds = call.talk_seconds
            record.end_reason = call.end.value if call.end else None
            if note:
                agent = await db.get(StaffUser, int(call.agent_id))
                await crm.add_note(db, ticket, note, record.ended_at or datetime.now(UTC), agent)

    async def wrap_up_finished(
        self, call: CallSession, outcome: str | None, notes: str | None
    ) -> None:
        async with self.app[DB]() as db, db.begin():
            found = await self._call_and_ticket(db, call.call_id)
            if found is None:
                return
            record, ticket = found
            record.outcome = outcome
            if notes:
                agent = await db.get(StaffUser, int(call.agent_id))
                await crm.add_note(db, ticket, notes, datetime.now(UTC), agent)
