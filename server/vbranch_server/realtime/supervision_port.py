"""The call hub's `Supervision` port on the database: the audit log and the queue samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from vbranch_server.keys import DB
from vbranch_server.supervision.audit import record_action
from vbranch_server.supervision.samples import store_samples


class DatabaseSupervision:
    def __init__(self, app: web.Application) -> None:
        # The database opens at start-up, after the hub is built: look it up at each call.
        self.app = app

    async def action_taken(
        self, staff_id: str, action: str, target: str, details: dict[str, Any], at: float
    ) -> None:
        async with self.app[DB]() as db, db.begin():
            await record_action(
                db, int(staff_id), action, target, details, datetime.fromtimestamp(at, UTC)
            )

    async def queues_sampled(self, minute: float, queues: list[dict[str, Any]]) -> None:
        async with self.app[DB]() as db, db.begin():
            await store_samples(db, datetime.fromtimestamp(minute, UTC), queues)
