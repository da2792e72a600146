"""The agent console's own JSON: today's figures, the ticket beside the call, my open tickets.

Everything goes through the same visibility rule as the tickets API: a ticket (and so its customer's
past) is only shown to an agent who has served that customer.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, StringConstraints

from vbranch_server.crm import attachments, history
from vbranch_server.crm import tickets as crm
from vbranch_server.db.models import Attachment, Ticket
from vbranch_server.keys import CLOCK, DB
from vbranch_server.web.auth_views import staff_out
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import DocumentOut, StaffOut, Strict, TicketEventOut, TicketOut
from vbranch_server.web.security import ANY_STAFF, requires, staff_user

routes = web.RouteTableDef()

_ZONE = r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$|^UTC$"


class DayQuery(Strict):
    #: The agent's own time zone (the browser's `Intl` zone): "today" is the agent's today.
    tz: Annotated[str, StringConstraints(max_length=64, pattern=_ZONE)] = "UTC"


class DayFiguresOut(BaseModel):
    day: str
    calls: int
    average_talk_seconds: float | None


class ConsoleMe(BaseModel):
    user: StaffOut
    today: DayFiguresOut
    #: The server's clock: the console shows deadlines against it, not against the browser's.
    server_now: datetime


class AttachmentOut(BaseModel):
    id: int
    name: str
    content_type: str
    size: int
    document_code: str | None
    by_customer: bool
    created_at: datetime

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentOut:
        return cls(
            id=attachment.id,
            name=attachment.original_name,
            content_type=attachment.content_type,
            size=attachment.size_bytes,
            document_code=attachment.document_code,
            by_customer=attachment.uploaded_by_customer,
            created_at=attachment.created_at,
        )


class ConsoleTicket(TicketOut):
    #: From here the SLA countdown turns amber (less than 20 % of the working time left).
    resolution_at_risk_at: datetime
    category_name_ar: str
    category_name_en: str

    @classmethod
    def of_ticket(cls, ticket: Ticket, now: datetime) -> ConsoleTicket:
        return cls(
            **TicketOut.of(ticket, crm.ticket_sla_state(ticket, now)).model_dump(),
            resolution_at_risk_at=ticket.resolution_at_risk_at,
            category_name_ar=ticket.category.name_ar,
            category_name_en=ticket.category.name_en,
        )


class PastCallOut(BaseModel):
    call_id: str
    ticket_reference: str
    agent_name: str
    accepted_at: datetime
    talk_seconds: float | None
    end_reason: str | None
    outcome: str | None


class TicketContext(BaseModel):
    ticket: ConsoleTicket
    history: list[TicketEventOut]
    required_documents: list[DocumentOut]
    attachments: list[AttachmentOut]
    #: The customer's other tickets (newest first) and their calls, this ticket's included.
    earlier_tickets: list[ConsoleTicket]
    calls: list[PastCallOut]
    server_now: datetime


class MyTickets(BaseModel):
    tickets: list[ConsoleTicket]
    server_now: datetime


class DocumentMark(Strict):
    #: Which required document this file is; null takes the mark off again.
    document_code: (
        Annotated[str, StringConstraints(max_length=48, pattern=r"^[a-z0-9_]+$")] | None
    ) = None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # A folder of the zone database ("America") raises IsADirectoryError, an OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ApiError(400, "invalid_request", f"unknown time zone {name!r}") from None


@routes.get("/api/console/me")
@requires(*ANY_STAFF)
async def console_me(request: web.Request) -> web.Response:
    query = DayQuery.model_validate(dict(request.query))
    zone = _zone(query.tz)
    user = staff_user(request)
    now = request.app[CLOCK]()
    local_now = now.astimezone(zone)
    start = datetime.combine(local_now.date(), time(), zone)
    async with request.app[DB]() as db:
        figures = await history.agent_day(db, user.id, start, start + timedelta(days=1))
    return _json(
        ConsoleMe(
            user=staff_out(user),
            today=DayFiguresOut(
                day=local_now.date().isoformat(),
                calls=figures.calls,
                average_talk_seconds=figures.average_talk_seconds,
            ),
            server_now=now,
        )
    )


@routes.get("/api/console/tickets/{reference}")
@requires(*ANY_STAFF)
async def ticket_context(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        ticket = await crm.get_visible_ticket(
            db, staff_user(request), request.match_info["reference"]
        )
        events = await crm.ticket_history(db, ticket)
        files = await history.ticket_attachments(db, ticket.id)
        others = await history.customer_tickets(db, ticket.customer_id)
        calls = await history.customer_calls(db, ticket.customer_id)
        context = TicketContext(
            ticket=ConsoleTicket.of_ticket(ticket, now),
            history=[TicketEventOut.of(e) for e in events],
            required_documents=[
                DocumentOut.model_validate(d) for d in ticket.category.required_documents
            ],
            attachments=[AttachmentOut.of(a) for a in files],
            earlier_tickets=[ConsoleTicket.of_ticket(t, now) for t in others if t.id != ticket.id],
            calls=[PastCallOut.model_validate(c, from_attributes=True) for c in calls],
            server_now=now,
        )
    return _json(context)


@routes.get("/api/console/my-tickets")
@requires(*ANY_STAFF)
async def my_tickets(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    async with request.app[DB]() as db:
        found = await history.open_tickets_of(db, staff_user(request).id)
        return _json(
            MyTickets(tickets=[ConsoleTicket.of_ticket(t, now) for t in found], server_now=now)
        )


@routes.post("/api/console/attachments/{attachment_id:\\d+}/document")
@requires(*ANY_STAFF)
async def mark_document(request: web.Request) -> web.Response:
    """The agent says which required document a file is: the checklist ticks it off."""
    body = await read_json_model(request, DocumentMark)
    async with request.app[DB]() as db, db.begin():
        attachment = await db.get(Attachment, int(request.match_info["attachment_id"]))
        ticket = await db.get(Ticket, attachment.ticket_id) if attachment else None
        if attachment is None or ticket is None:
            raise crm.NotFoundError("no such file")
        ticket = await crm.get_visible_ticket(db, staff_user(request), ticket.reference)
        codes = {d["code"] for d in ticket.category.required_documents}
        if body.document_code is not None and body.document_code not in codes:
            raise ApiError(
                400,
                "invalid_request",
                f"{body.document_code!r} is not a required document of {ticket.category.code}",
            )
        user = staff_user(request)
        await attachments.mark_document(
            db, attachment, body.document_code, request.app[CLOCK](), user
        )
        out = AttachmentOut.of(attachment)
    return _json(out)


# --- the OpenAPI part, merged into /api/openapi.json ------------------------------------------

OPENAPI_MODELS: list[type[BaseModel]] = [
    ConsoleMe,
    TicketContext,
    MyTickets,
    DocumentMark,
    AttachmentOut,
]


def openapi_paths(answers: Any, body: Any) -> dict[str, Any]:
    """Path items for the console's routes, built with the document's own helpers."""
    staff = {"security": [{"session": []}], "tags": ["console"]}
    reference = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
    attachment = {
        "name": "attachment_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    csrf = {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}
    return {
        "/api/console/me": {
            "get": {
                **staff,
                "summary": "The staff member with today's calls and average talk time",
                "parameters": [
                    {"name": "tz", "in": "query", "required": False, "schema": {"type": "string"}}
                ],
                "responses": answers(200, ConsoleMe, 400, 401, 403),
            }
        },
        "/api/console/tickets/{reference}": {
            "get": {
                **staff,
                "summary": "A ticket with its history, documents and the customer's past",
                "parameters": [reference],
                "responses": answers(200, TicketContext, 401, 403, 404),
            }
        },
        "/api/console/my-tickets": {
            "get": {
                **staff,
                "summary": "My open tickets, the earliest resolution due first",
                "responses": answers(200, MyTickets, 401, 403),
            }
        },
        "/api/console/attachments/{attachment_id}/document": {
            "post": {
                **staff,
                "summary": "Say which required document a file is",
                "parameters": [attachment, csrf],
                "requestBody": body(DocumentMark),
                "responses": answers(200, AttachmentOut, 400, 401, 403, 404, 415),
            }
        },
    }
