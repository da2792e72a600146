"""The pre-call echo test: a server-side aiortc peer that sends the customer's own video back.

The browser measures round-trip time, packet loss and frame rate on this loop and warns when the
connection is too weak for video (sign language needs at least 20 frames per second); the customer
keeps seeing the returned video until they join the line or the echo's time is up.

One echo at a time per visit, and at most MAX_ECHOES per process. The check is per process, not in
Redis: what the cap protects is this process's CPU (each echo decodes and re-encodes video), and a
visit whose offers reach two processes holds at most one slot on each, never a process's all. A
Redis key would add a failure mode (Redis down, no check) without protecting anything more.

Nothing is trickled: the page sends its offer once gathering is complete and there is no route to
add a candidate later, so filtering the offer (echo_network.filter_offer) sees every address the
browser names. Where the peer may send and what it announces: echo_network and echo_gathering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from pydantic import StringConstraints

from vbranch_server.i18n import pick_language
from vbranch_server.keys import CATALOGS, CLOCK, SETTINGS
from vbranch_server.realtime.echo_gathering import gather_on
from vbranch_server.realtime.echo_network import echo_configuration, filter_offer
from vbranch_server.web.errors import ApiError, read_json_model
from vbranch_server.web.schemas import Strict
from vbranch_server.web.security import public
from vbranch_server.web.visitors import visit_id_of

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: An echo peer lives this long at most: the measurement takes a few seconds, then the customer
#: still sees themselves while they get ready to join. The page is told, and ends it first.
ECHO_SECONDS = 30
#: Echo peers at once per process: each decodes and re-encodes video, so they are capped.
MAX_ECHOES = 8
#: TURN credentials of the echo peer outlive the echo by a margin, no more.
_TURN_TTL_SECONDS = ECHO_SECONDS + 60


@dataclass
class EchoPeers:
    """This process's echo peers, one per visit at most, and the tasks that end them."""

    by_visit: dict[str, RTCPeerConnection] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reserve(self, visit_id: str, pc: RTCPeerConnection) -> str | None:
        """Take a slot for `visit_id`, or say why not (an error code). Synchronous on purpose:
        no other request runs between the check and the reservation."""
        if visit_id in self.by_visit:
            return "echo_running"
        if len(self.by_visit) >= MAX_ECHOES:
            return "busy"
        self.by_visit[visit_id] = pc
        return None

    def release(self, visit_id: str, pc: RTCPeerConnection) -> None:
        # Only this echo's own slot: never a later echo of the same visit.
        if self.by_visit.get(visit_id) is pc:
            del self.by_visit[visit_id]


ECHOES = web.AppKey("echoes", EchoPeers)

#: Refusals by code: 409 for this visit's own running check, 429 when the process is full.
_STATUS = {"echo_running": 409, "busy": 429}


class EchoOffer(Strict):
    type: Literal["offer"]
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]


async def _run(peers: EchoPeers, visit_id: str, pc: RTCPeerConnection) -> None:
    """Keep the echo until its time is up or the browser is gone, then free the slot."""
    gone = asyncio.Event()

    @pc.on("connectionstatechange")
    def watch() -> None:
        if pc.connectionState in {"failed", "closed"}:
            gone.set()

    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), ECHO_SECONDS)
    finally:
        peers.release(visit_id, pc)
        await pc.close()


def _refuse(request: web.Request, code: str) -> ApiError:
    """The refusal in the customer's language (?lang=, the language cookie, Accept-Language)."""
    message = request.app[CATALOGS].gettext(pick_language(request), f"error.{code}")
    return ApiError(_STATUS[code], code, message)


@routes.post("/api/echo")
@public
async def echo(request: web.Request) -> web.Response:
    visit_id = visit_id_of(request)  # only customers who started a visit
    offer = await read_json_model(request, EchoOffer)
    settings, peers = request.app[SETTINGS], request.app[ECHOES]
    pc = RTCPeerConnection(
        echo_configuration(
            settings.stun_urls,
            settings.turn_urls,
            settings.turn_secret,
            f"echo-{visit_id}",
            request.app[CLOCK]().timestamp(),
            _TURN_TTL_SECONDS,
        )
    )
    refused = peers.reserve(visit_id, pc)
    if refused:
        await pc.close()
        raise _refuse(request, refused)
    relay = MediaRelay()

    @pc.on("track")
    def send_back(track: Any) -> None:
        pc.addTrack(relay.subscribe(track))

    sdp, dropped = filter_offer(offer.sdp, allow_private=settings.echo_allow_private_peers)
    if dropped:
        log.debug("echo for visit %s: %d candidate(s) not reachable by policy", visit_id, dropped)
    running = False
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, offer.type))
        await gather_on(pc, settings.echo_host_addresses)
        await pc.setLocalDescription(await pc.createAnswer())
        runner = asyncio.create_task(_run(peers, visit_id, pc))
        running = True
    except Exception as exc:
        raise ApiError(400, "invalid_request", f"cannot answer this offer: {exc}") from None
    finally:
        if not running:  # refused offer, or the request cancelled: the slot is free again
            peers.release(visit_id, pc)
            await pc.close()
    peers.tasks.add(runner)
    runner.add_done_callback(peers.tasks.discard)
    answer = pc.localDescription
    return web.json_response({"type": answer.type, "sdp": answer.sdp, "seconds": ECHO_SECONDS})


async def echo_ctx(app: web.Application) -> AsyncIterator[None]:
    app[ECHOES] = EchoPeers()
    yield
    pending = list(app[ECHOES].tasks)  # their done-callbacks shrink the set as they finish
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
