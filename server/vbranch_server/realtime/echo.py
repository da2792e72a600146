"""The pre-call echo test: a server-side aiortc peer that sends the customer's own video back.

The browser measures round-trip time, packet loss and frame rate on this loop and warns when the
connection is too weak for video (sign language needs at least 20 frames per second).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from pydantic import StringConstraints

from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import public
from vbranch_server.web.visitors import visit_id_of

routes = web.RouteTableDef()

#: An echo peer lives this long at most: the check takes a few seconds.
ECHO_SECONDS = 30
#: Echo peers at once per process: each decodes and re-encodes video, so they are capped.
MAX_ECHOES = 8
ECHOES = web.AppKey("echoes", set)
ECHO_TASKS = web.AppKey("echo_tasks", set)


class EchoOffer(Strict):
    type: Literal["offer"]
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]


async def _close_later(pc: RTCPeerConnection, echoes: set[Any]) -> None:
    try:
        await asyncio.sleep(ECHO_SECONDS)
    finally:
        echoes.discard(pc)
        await pc.close()


@routes.post("/api/echo")
@public
async def echo(request: web.Request) -> web.Response:
    visit_id_of(request)  # only customers who started a visit
    offer = await read_json_model(request, EchoOffer)
    echoes = request.app[ECHOES]
    if len(echoes) >= MAX_ECHOES:
        raise ApiError(429, "busy", "the connection check is busy; try again in a moment")
    pc = RTCPeerConnection()
    relay = MediaRelay()

    @pc.on("track")
    def send_back(track: Any) -> None:
        pc.addTrack(relay.subscribe(track))

    echoes.add(pc)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:
        echoes.discard(pc)
        await pc.close()
        raise ApiError(400, "invalid_request", f"cannot answer this offer: {exc}") from None
    tasks = request.app[ECHO_TASKS]
    closer = asyncio.create_task(_close_later(pc, echoes))
    tasks.add(closer)
    closer.add_done_callback(tasks.discard)
    answer = pc.localDescription
    return web.json_response({"type": answer.type, "sdp": answer.sdp})


async def echo_ctx(app: web.Application) -> AsyncIterator[None]:
    app[ECHOES], app[ECHO_TASKS] = set(), set()
    yield
    pending = list(app[ECHO_TASKS])  # their done-callbacks shrink the set as they finish
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
