"""Files during a call (customer uploads, staff downloads) and the customer's rating of the call.

Customers authenticate with their visit token (`Authorization: Bearer …`), staff with their session.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from pydantic import Field, StringConstraints
from sqlalchemy import select

from vbranch_server.crm.attachments import FileRefused, UploadSink, attach
from vbranch_server.crm.tickets import NotFoundError, get_visible_ticket
from vbranch_server.crm.upload_quota import (
    Reservation,
    UploadLimits,
    UploadRefused,
    check_disk,
    upload_reservation,
)
from vbranch_server.db.models import Attachment, CallRecord, Ticket
from vbranch_server.keys import CLOCK, DB, SETTINGS
from vbranch_server.realtime.wiring import HUB
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import ANY_STAFF, public, requires, staff_user
from vbranch_server.web.visitors import visit_id_of
from vbranch_signaling.calls import CallState

routes = web.RouteTableDef()

#: Multipart framing around the file: headers and boundaries, generously.
_MULTIPART_OVERHEAD = 16 * 1024


@routes.post("/api/calls/{call_id}/files")
@public
async def upload_file(request: web.Request) -> web.Response:
    visit_id = visit_id_of(request)
    hub = request.app[HUB]
    call = await hub.registry.get_call(request.match_info["call_id"])
    if call is None or call.customer_id != visit_id:
        raise ApiError(404, "not_in_call", "you are not in this call")
    if call.state not in {CallState.CONNECTING, CallState.IN_CALL}:
        raise ApiError(409, "wrong_state", f"the call is {call.state}")
    limit = request.app[SETTINGS].upload_max_bytes
    if (request.content_length or 0) > limit + _MULTIPART_OVERHEAD:
        raise ApiError(413, "file_too_large", f"files are limited to {limit} bytes")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data")
    reader = await request.multipart()
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file":
        raise ApiError(400, "invalid_request", "send one part named 'file'")
    # Browsers send the bare file name (some clients percent-encode it); a path in it is a
    # handcrafted request.
    filename = unquote(part.filename or "")
    if any(mark in filename for mark in ("/", "\\", "\x00")) or filename in {".", ".."}:
        raise ApiError(400, "invalid_file_name", "the file name may not contain a path")

    settings = request.app[SETTINGS]
    # The file part is no longer than the whole body, nor than the per-file limit: the most it
    # may bring is counted against the call's caps before a byte of it is read.
    incoming = min(request.content_length or limit, limit)
    limits = UploadLimits(
        settings.uploads_per_call,
        settings.upload_bytes_per_call,
        settings.min_free_disk_mb * 1024 * 1024,
    )
    try:
        check_disk(settings.uploads_dir, incoming, limits)
        async with upload_reservation(
            request.app[DB], call.call_id, incoming, limits
        ) as reservation:
            info = await _store(request, part, filename, call.ticket_reference, reservation)
    except UploadRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    await hub.file_shared(call, info)
    return web.json_response(info, status=201)


async def _store(
    request: web.Request,
    part: BodyPartReader,
    filename: str,
    ticket_reference: str | None,
    reservation: Reservation,
) -> dict[str, Any]:
    """Receive the file, then attach it to the call's ticket and settle its reservation."""
    settings = request.app[SETTINGS]
    sink = UploadSink(settings.uploads_dir, settings.upload_max_bytes)
    try:
        while chunk := await part.read_chunk(64 * 1024):
            sink.write(chunk)
        stored = sink.finish()
    except FileRefused as exc:
        sink.discard()
        status = 413 if exc.code == "file_too_large" else 415
        raise ApiError(status, exc.code, str(exc)) from None
    except BaseException:
        sink.discard()
        raise

    async with request.app[DB]() as db, db.begin():
        ticket = await db.scalar(select(Ticket).where(Ticket.reference == ticket_reference))
        if ticket is None:
            sink.discard()
            raise ApiError(409, "wrong_state", "the call has no ticket yet")
        attachment = await attach(
            db, ticket, stored, filename, request.app[CLOCK](), by_customer=True
        )
        await reservation.settle(db, stored.size)
        return {
            "attachment_id": attachment.id,
            "name": attachment.original_name,
            "content_type": attachment.content_type,
            "size": attachment.size_bytes,
            "ticket_reference": ticket.reference,
        }


@routes.get("/api/attachments/{attachment_id:\\d+}")
@requires(*ANY_STAFF)
async def download_file(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        attachment = await db.get(Attachment, int(request.match_info["attachment_id"]))
        ticket = await db.get(Ticket, attachment.ticket_id) if attachment else None
        if attachment is None or ticket is None:
            raise NotFoundError("no such file")
        # The same visibility as the ticket: an agent sees the files of customers they served.
        await get_visible_ticket(db, staff_user(request), ticket.reference)
    path = request.app[SETTINGS].uploads_dir / attachment.storage_name
    return web.FileResponse(
        path,
        headers={
            "Content-Type": attachment.content_type,
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(attachment.original_name)}",
            # Shown inside the console's viewer (a frame of our own pages only), never able to run
            # script of its own.
            "Content-Security-Policy": (
                "sandbox; default-src 'none'; img-src 'self'; object-src 'self'; "
                "frame-ancestors 'self'"
            ),
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
        },
    )


class Rating(Strict):
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


@routes.post("/api/calls/{call_id}/rating")
@public
async def rate_call(request: web.Request) -> web.Response:
    visit_id = visit_id_of(request)
    body = await read_json_model(request, Rating)
    async with request.app[DB]() as db, db.begin():
        record = await db.scalar(
            select(CallRecord).where(
                CallRecord.call_id == request.match_info["call_id"], CallRecord.visit_id == visit_id
            )
        )
        if record is None:
            raise ApiError(404, "not_found", "no such call of yours")
        if record.ended_at is None:
            raise ApiError(409, "wrong_state", "rate the call once it has ended")
        if record.rating is not None:
            raise ApiError(409, "already_rated", "this call was rated already")
        record.rating, record.rating_comment = body.rating, body.comment
    return web.json_response({"ok": True}, status=201)
