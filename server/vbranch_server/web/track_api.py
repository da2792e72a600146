"""The customer's follow-up of a ticket: reference plus secret code, rate-limited per address."""

from __future__ import annotations

from aiohttp import web

from vbranch_server.crm.attachments import marked_documents, missing_documents
from vbranch_server.crm.tickets import find_for_customer
from vbranch_server.db.models import TicketStatus
from vbranch_server.keys import DB, TRACK_LIMITER
from vbranch_server.web.client_address import client_ip
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import DocumentOut, TrackedTicket, TrackRequest
from vbranch_server.web.security import public

routes = web.RouteTableDef()


@routes.post("/api/track")
@public
async def track_ticket(request: web.Request) -> web.Response:
    body = await read_json_model(request, TrackRequest)
    # Keyed by address, never by reference: otherwise anyone knowing a reference could lock its
    # customer out. Guessing a 10-character code from many addresses is still hopeless. Counted
    # before the look-up, so simultaneous guesses cannot all pass a check made before any failed.
    attempt = await request.app[TRACK_LIMITER].reserve({"address": client_ip(request)})
    if attempt.refused:
        raise ApiError(
            429,
            "too_many_attempts",
            "too many wrong codes; try again later",
            headers={"Retry-After": str(int(attempt.retry_after) + 1)},
        )
    async with request.app[DB]() as db:
        # A wrong reference or code raises NotFoundError and the attempt stays counted.
        ticket = await find_for_customer(db, body.reference, body.code)
        await attempt.release()  # only failures count
        out = TrackedTicket(
            reference=ticket.reference,
            status=ticket.status,
            category_en=ticket.category.name_en,
            category_ar=ticket.category.name_ar,
            created_at=ticket.created_at,
            resolution_due_at=ticket.resolution_due_at,
            resolved_at=ticket.resolved_at,
            on_hold=ticket.status is TicketStatus.PENDING,
            documents_missing=[
                DocumentOut.model_validate(document)
                for document in missing_documents(
                    ticket.category.required_documents, await marked_documents(db, ticket.id)
                )
            ],
        )
    return web.json_response(text=out.model_dump_json())
