"""The supervisor dashboard's HTTP side: SLA board, audit log, chart data and the day's reports.

The live figures travel over the `/supervisor` Socket.IO namespace; these are the parts read from
the database. Supervisors and administrators only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vbranch_server.db.models import CallRecord, StaffRole, StaffUser
from vbranch_server.i18n import pick_language
from vbranch_server.keys import CATALOGS, CLOCK, DB, SETTINGS
from vbranch_server.realtime.wiring import HUB
from vbranch_server.supervision.audit import recent_actions
from vbranch_server.supervision.board import sla_board
from vbranch_server.supervision.reports import (
    AGENT_COLUMNS,
    QUEUE_COLUMNS,
    AnsweredCall,
    agent_rows,
    queue_rows,
    to_csv,
)
from vbranch_server.supervision.samples import chart_data, day_end, day_start
from vbranch_server.web.pages import services_with_hours
from vbranch_server.web.security import current_staff, requires

routes = web.RouteTableDef()
SUPERVISORS = (StaffRole.SUPERVISOR, StaffRole.ADMIN)

#: How often, in seconds, the dashboard reloads its HTTP parts (the live figures come by socket).
PANEL_REFRESH_SECONDS = {"sla": 30.0, "audit": 30.0, "charts": 60.0}
#: Set on the application to change some of them, e.g. `app[PANEL_REFRESH] = {"sla": 0.5}` in tests.
PANEL_REFRESH: web.AppKey[dict[str, float]] = web.AppKey("supervisor_panel_refresh")


async def supervisor_page_context(request: web.Request) -> dict[str, Any]:
    """What the dashboard page needs: its texts in the page's language, services, targets."""
    refresh_overrides: dict[str, float] = request.app.get(PANEL_REFRESH, {})
    staff = current_staff(request)
    assert staff is not None, "the page is for supervisors only"
    lang = pick_language(request)
    messages = request.app[CATALOGS].messages[lang]
    services = await services_with_hours(request)
    wanted = ("supervisor.", "language.", "error.")
    return {
        "services": services,
        "timezone": request.app[SETTINGS].timezone,
        "config": {
            "lang": lang,
            "timezone": request.app[SETTINGS].timezone,
            "messages": {k: v for k, v in messages.items() if k.startswith(wanted)},
            "services": {service["code"]: service["name"] for service in services},
            "staff_id": str(staff.user.id),
            "refresh_seconds": {**PANEL_REFRESH_SECONDS, **refresh_overrides},
        },
    }


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=200)


@routes.get("/api/supervisor/sla-board")
@requires(*SUPERVISORS)
async def get_sla_board(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        tickets = await sla_board(db, now)
    return web.json_response({"now": now.isoformat(), "tickets": tickets})


@routes.get("/api/supervisor/audit")
@requires(*SUPERVISORS)
async def get_audit(request: web.Request) -> web.Response:
    query = AuditQuery.model_validate(dict(request.query))
    async with request.app[DB]() as db:
        actions = await recent_actions(db, query.limit)
        items = [
            {
                "at": a.created_at.isoformat(),
                "staff_id": a.staff_id,
                "staff_name": a.staff.display_name,
                "action": a.action,
                "target": a.target,
                "details": a.details,
            }
            for a in actions
        ]
    return web.json_response({"actions": items})


@routes.get("/api/supervisor/charts")
@requires(*SUPERVISORS)
async def get_charts(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        zone = request.app[SETTINGS].zone
        return web.json_response(await chart_data(db, request.app[CLOCK](), zone))


@routes.get("/api/supervisor/reports/queues.csv")
@requires(*SUPERVISORS)
async def get_queue_report(request: web.Request) -> web.Response:
    return await _report(request, "queues")


@routes.get("/api/supervisor/reports/agents.csv")
@requires(*SUPERVISORS)
async def get_agent_report(request: web.Request) -> web.Response:
    return await _report(request, "agents")


async def _report(request: web.Request, kind: str) -> web.Response:
    """Today's figures (the routing store's day: from midnight in VBRANCH_TIMEZONE) as CSV."""
    now = request.app[CLOCK]()
    start = day_start(now, request.app[SETTINGS].zone)
    async with request.app[DB]() as db:
        records = (
            await db.scalars(
                select(CallRecord).where(
                    CallRecord.accepted_at >= start,
                    CallRecord.accepted_at < day_end(now, request.app[SETTINGS].zone),
                )
            )
        ).all()
        calls = [
            AnsweredCall(r.queue, r.agent_id, r.wait_seconds, r.talk_seconds, r.end_reason)
            for r in records
        ]
        if kind == "agents":
            ids = {c.agent_id for c in calls}
            users = (await db.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))).all()
            names = {u.id: u.display_name for u in users}
    hub = request.app[HUB]
    if kind == "queues":
        snapshot = await hub.routing.snapshot(now.timestamp())
        abandoned = {q.needs.bucket: q.abandoned for q in snapshot.queues}
        columns: tuple[str, ...]
        columns, rows = (
            QUEUE_COLUMNS,
            queue_rows(calls, abandoned, hub.routing_config.threshold_for),
        )
    else:
        columns, rows = AGENT_COLUMNS, agent_rows(calls, names)
    lang = pick_language(request)
    catalogs = request.app[CATALOGS]
    headings = {c: catalogs.gettext(lang, f"supervisor.report.{kind}.{c}") for c in columns}
    day = start.astimezone(request.app[SETTINGS].zone).date()  # start is UTC; its day is local
    filename = f"vbranch-{kind}-{day.isoformat()}.csv"
    return web.Response(
        body=to_csv(columns, headings, rows).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def openapi_paths(answers: Any) -> dict[str, Any]:
    """Path items for these routes, built with the OpenAPI document's own helper."""
    ops = {"security": [{"session": []}], "tags": ["supervisor"]}

    def json_answer(summary: str, *errors: int) -> dict[str, Any]:
        responses = answers(200, None, 401, 403, *errors)
        responses["200"]["content"] = {"application/json": {"schema": {"type": "object"}}}
        return {"get": {**ops, "summary": summary, "responses": responses}}

    def csv_answer(summary: str) -> dict[str, Any]:
        item = json_answer(summary)
        item["get"]["responses"]["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
        return item

    audit = json_answer("The newest supervisor actions, newest first", 400)
    audit["get"]["parameters"] = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        }
    ]
    return {
        "/api/supervisor/sla-board": json_answer("Open tickets at risk or breached, soonest due"),
        "/api/supervisor/audit": audit,
        "/api/supervisor/charts": json_answer(
            "Waiting per queue (last hour), hourly figures today"
        ),
        "/api/supervisor/reports/queues.csv": csv_answer("Today's figures per queue, as CSV"),
        "/api/supervisor/reports/agents.csv": csv_answer("Today's figures per agent, as CSV"),
    }
