"""The tickets API: list, read, create, change status, add a note. Staff only, role-checked."""

from __future__ import annotations

from aiohttp import web

from vbranch_server.crm import tickets as crm
from vbranch_server.db.models import StaffRole
from vbranch_server.keys import CLOCK, DB, METRICS
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import (
    NoteCreate,
    StatusChange,
    TicketCreate,
    TicketCreated,
    TicketDetail,
    TicketEventOut,
    TicketFilterQuery,
    TicketList,
    TicketOut,
)
from vbranch_server.web.security import ANY_STAFF, requires, staff_user

routes = web.RouteTableDef()


def _json(model: object, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)  # type: ignore[attr-defined]


@routes.get("/api/tickets")
@requires(*ANY_STAFF)
async def list_tickets(request: web.Request) -> web.Response:
    query = TicketFilterQuery.model_validate(dict(request.query))
    filters = crm.TicketFilter(
        status=query.status,
        sla=query.sla,
        agent_id=query.agent,
        category_code=query.category,
        limit=query.limit,
        offset=query.offset,
    )
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        found = await crm.list_tickets(db, staff_user(request), filters, now)
        return _json(
            TicketList(tickets=[TicketOut.of(t, crm.ticket_sla_state(t, now)) for t in found])
        )


async def _detail(request: web.Request, reference: str) -> TicketDetail:
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        ticket = await crm.get_visible_ticket(db, staff_user(request), reference)
        history = await crm.ticket_history(db, ticket)
        return TicketDetail(
            **TicketOut.of(ticket, crm.ticket_sla_state(ticket, now)).model_dump(),
            history=[TicketEventOut.of(e) for e in history],
        )


@routes.get("/api/tickets/{reference}")
@requires(*ANY_STAFF)
async def read_ticket(request: web.Request) -> web.Response:
    return _json(await _detail(request, request.match_info["reference"]))


@routes.post("/api/tickets")
@requires(*ANY_STAFF)
async def create_ticket(request: web.Request) -> web.Response:
    body = await read_json_model(request, TicketCreate)
    if (body.customer_id is None) == (body.customer is None):
        raise ApiError(400, "invalid_request", "give either customer_id or customer, not both")
    user = staff_user(request)
    now = request.app[CLOCK]()
    async with request.app[DB]() as db, db.begin():
        if body.customer_id is not None and not await crm.may_serve_customer(
            db, user, body.customer_id
        ):
            raise crm.NotFoundError(f"unknown customer {body.customer_id}")
        created = await crm.create_ticket(
            db,
            crm.NewTicket(
                category_code=body.category,
                subject=body.subject,
                channel=body.channel,
                priority=body.priority,
                language=body.language,
                customer_id=body.customer_id,
                customer_name=body.customer.display_name if body.customer else None,
                customer_phone=body.customer.phone if body.customer else None,
                # An agent who opens a ticket owns it; supervisors assign later.
                assigned_agent_id=user.id if user.role is StaffRole.AGENT else None,
            ),
            now,
            user,
        )
        if body.note:
            await crm.add_note(db, created.ticket, body.note, now, user)
        out = TicketOut.of(created.ticket, crm.ticket_sla_state(created.ticket, now))
    request.app[METRICS].tickets_created.labels(body.channel.value).inc()
    return _json(TicketCreated(ticket=out, secret_code=created.secret_code), status=201)


@routes.post("/api/tickets/{reference}/status")
@requires(*ANY_STAFF)
async def change_status(request: web.Request) -> web.Response:
    body = await read_json_model(request, StatusChange)
    reference = request.match_info["reference"]
    user = staff_user(request)
    async with request.app[DB]() as db, db.begin():
        ticket = await crm.get_visible_ticket(db, user, reference)
        await crm.change_status(db, ticket, body.status, request.app[CLOCK](), user, body.note)
    return _json(await _detail(request, reference))


@routes.post("/api/tickets/{reference}/notes")
@requires(*ANY_STAFF)
async def add_note(request: web.Request) -> web.Response:
    body = await read_json_model(request, NoteCreate)
    reference = request.match_info["reference"]
    user = staff_user(request)
    async with request.app[DB]() as db, db.begin():
        ticket = await crm.get_visible_ticket(db, user, reference)
        await crm.add_note(db, ticket, body.body, request.app[CLOCK](), user)
    return _json(await _detail(request, reference), status=201)
