"""The call hub's CRM on the database: tickets opened at accept, call records, wrap-up notes.

The writes go through the call log's writer (`crm.call_log_writer`), which commits the entries
of concurrent calls together; each method returns once its entry is committed.

Service categories and agents' names are read for every call but change rarely (an
administrator's edit): they are kept for `REFRESH_SECONDS`, so a new or deactivated service or a
renamed agent shows on calls within that time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select

from vbranch_queue.core.model import Needs
from vbranch_server.crm import call_log
from vbranch_server.db.models import StaffUser
from vbranch_server.keys import CALL_LOG, CLOCK, DB, ENGINE
from vbranch_server.sla import is_open_at
from vbranch_signaling.calls import CallSession
from vbranch_signaling.registry import Visit

REFRESH_SECONDS = 30.0


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class DatabaseCrm:
    def __init__(self, app: web.Application) -> None:
        # The database opens at start-up, after the hub is built: look it up at each call.
        self.app = app
        self._categories: dict[str, call_log.CategoryTerms] = {}
        self._categories_read = float("-inf")
        self._names: dict[str, tuple[float, str]] = {}

    async def _category_terms(self) -> dict[str, call_log.CategoryTerms]:
        if time.monotonic() - self._categories_read < REFRESH_SECONDS:
            return self._categories
        async with self.app[DB]() as db:
            self._categories = await call_log.active_category_terms(db)
        self._categories_read = time.monotonic()
        return self._categories

    async def has_category(self, code: str) -> bool:
        return code in await self._category_terms()

    async def service_open(self, code: str) -> bool:
        terms = (await self._category_terms()).get(code)
        return terms is not None and is_open_at(terms.calendar, self.app[CLOCK]())

    async def agent_name(self, agent_id: str) -> str:
        cached = self._names.get(agent_id)
        if cached is not None and time.monotonic() - cached[0] < REFRESH_SECONDS:
            return cached[1]
        async with self.app[ENGINE].connect() as db:
            name = await db.scalar(
                select(StaffUser.display_name).where(StaffUser.id == int(agent_id))
            )
        self._names[agent_id] = (time.monotonic(), name or "")
        return name or ""

    async def open_ticket(self, call: CallSession, visit: Visit) -> tuple[str, str | None]:
        start = call_log.CallStart(
            call_id=call.call_id,
            agent_id=int(call.agent_id),
            visit_id=call.customer_id,
            queue=call.bucket,
            enqueued_at=_at(call.enqueued_at) or datetime.now(UTC),
            accepted_at=_at(call.accepted_at) or datetime.now(UTC),
            wait_seconds=max(0.0, (call.accepted_at or call.enqueued_at) - call.enqueued_at),
        )
        needs = Needs.from_bucket(call.bucket)
        opened = await self.app[CALL_LOG].write(
            call_log.CallAccepted(
                start=start,
                caller=call_log.Caller(visit.display_name, visit.phone, needs.language),
                ticket_reference=visit.ticket_reference,
                category=needs.category,
                terms=(await self._category_terms()).get(needs.category),
            )
        )
        assert opened is not None, "an accept always gives its ticket"
        return opened

    async def call_connected(self, call: CallSession) -> None:
        await self.app[CALL_LOG].write(
            call_log.MediaConnected(
                call_id=call.call_id,
                agent_id=int(call.agent_id),
                at=_at(call.connected_at) or datetime.now(UTC),
            )
        )

    async def call_ended(self, call: CallSession, note: str | None) -> None:
        await self.app[CALL_LOG].write(
            call_log.CallEnded(
                call_id=call.call_id,
                agent_id=int(call.agent_id),
                at=_at(call.ended_at) or datetime.now(UTC),
                talk_seconds=call.talk_seconds,
                end_reason=call.end.value if call.end else None,
                note=note,
            )
        )

    async def wrap_up_finished(
        self, call: CallSession, outcome: str | None, notes: str | None
    ) -> None:
        if outcome is None and not notes:
            return  # nothing to keep: the call record already has its end
        await self.app[CALL_LOG].write(
            call_log.WrapUpFinished(
                call_id=call.call_id,
                agent_id=int(call.agent_id),
                at=datetime.now(UTC),
                outcome=outcome,
                notes=notes,
            )
        )
