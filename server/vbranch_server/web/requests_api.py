"""A request left outside opening hours: it becomes a ticket with its SLA clock running."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from vbranch_server.crm import tickets as crm
from vbranch_server.db.models import TicketChannel
from vbranch_server.keys import CLOCK, DB, METRICS, REQUEST_LIMITER
from vbranch_server.web.client_address import client_ip
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import public
from vbranch_signaling.plain_text import CleanLine, CleanMultiline

routes = web.RouteTableDef()


class LeftRequest(Strict):
    category: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,48}$")]
    language: Literal["ar", "en"] = "ar"
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=80), CleanLine] | None
    ) = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), CleanMultiline
    ]
    sign_language: bool = Field(default=False)


@routes.post("/api/requests")
@public
async def leave_request(request: web.Request) -> web.Response:
    body = await read_json_model(request, LeftRequest)
    # Every request counts against the address's allowance, not only failed ones: counted
    # before the ticket is made, so a burst cannot all pass the check first.
    attempt = await request.app[REQUEST_LIMITER].reserve({"address": client_ip(request)})
    if attempt.refused:
        raise ApiError(
            429,
            "too_many_attempts",
            "too many requests from here; try again later",
            headers={"Retry-After": str(int(attempt.retry_after) + 1)},
        )
    now = request.app[CLOCK]()
    subject = body.message.splitlines()[0][:120]
    async with request.app[DB]() as db, db.begin():
        created = await crm.create_ticket(
            db,
            crm.NewTicket(
                category_code=body.category,
                subject=subject,
                channel=TicketChannel.WEB_REQUEST,
                language=body.language,
                customer_name=body.display_name,
                customer_phone=body.phone,
            ),
            now,
            None,
        )
        note = body.message + ("\n[sign language]" if body.sign_language else "")
        await crm.add_note(db, created.ticket, note, now, None)
        ticket = created.ticket
        answer = {
            "reference": ticket.reference,
            "secret_code": created.secret_code,
            "resolution_due_at": ticket.resolution_due_at.isoformat(),
        }
    request.app[METRICS].tickets_created.labels(TicketChannel.WEB_REQUEST.value).inc()
    return web.json_response(answer, status=201)
