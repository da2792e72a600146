"""The connection check's server peer (POST /api/echo) over real HTTP and real aiortc/aioice:
one echo at a time per visit, only the operator's STUN/TURN servers (a real coturn here), no
packet to an address the operator did not allow, and an answer naming only the operator's
addresses."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aioice import stun
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs
from vbranch_server.realtime.echo import ECHOES, MAX_ECHOES
from vbranch_server.settings import Settings

from ..signaling.aiortc_peer import eventually
from .udp_peers import Counter, StunResponder, listen, running_coturn

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def browser_like_offer() -> str:
    """A real offer (video, BUNDLE, DTLS fingerprint) with its candidates, as a browser sends it."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTrack(VideoStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


def only_candidates(sdp: str, *candidates: str) -> str:
    """The offer naming exactly these candidate lines, and saying there are no more."""
    lines = [line for line in sdp.splitlines() if not line.startswith(("a=candidate:", "a=end-"))]
    at = next(i for i, line in enumerate(lines) if line.startswith("a=ice-ufrag"))
    extra = [f"a=candidate:{c}" for c in candidates] + ["a=end-of-candidates"]
    return "\r\n".join(lines[:at] + extra + lines[at:]) + "\r\n"


def answer_addresses(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every candidate of an answer, its related addresses as (address,
    'raddr') and its c= addresses as (address, 'c')."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            found.append((fields[4], fields[7]))
            if "raddr" in fields:
                found.append((fields[fields.index("raddr") + 1], "raddr"))
        elif line.startswith("c="):
            found.append((line.split()[2], "c"))
    return found


async def new_visit(client: TestClient) -> str:
    response = await client.post("/api/visits", json={"language": "en"})
    assert response.status == 201
    token: str = (await response.json())["token"]
    return token


async def post_offer(
    client: TestClient, token: str, sdp: str, lang: str = "en"
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/api/echo?lang={lang}",
        json={"type": "offer", "sdp": sdp},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status, await response.json()


@pytest.fixture
async def make_client(aiohttp_client, settings: Settings, clock) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    async def make(**changes: Any) -> TestClient:
        return await aiohttp_client(create_app(replace(settings, **changes), clock=clock))  # type: ignore[no-any-return]

    return make


# --- one echo at a time per visit ------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_visit_gets_one_echo_however_many_offers_arrive_at_once(
    make_client, lang: str
) -> None:
    client = await make_client()
    token, sdp = await new_visit(client), await browser_like_offer()
    answers = await asyncio.gather(*(post_offer(client, token, sdp, lang) for _ in range(11)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 10, statuses
    refusal = next(body["error"] for status, body in answers if status == 409)
    assert refusal["code"] == "echo_running"
    assert refusal["message"] == Catalogs.load().gettext(lang, "error.echo_running")
    assert len(client.server.app[ECHOES].by_visit) == 1
    documented = (await (await client.get("/api/openapi.json")).json())["paths"]["/api/echo"]
    assert {"200", "409", "429"} <= set(documented["post"]["responses"])


async def test_the_process_cap_holds_under_a_burst_of_visits(make_client) -> None:
    client = await make_client()
    sdp = await browser_like_offer()
    tokens = [await new_visit(client) for _ in range(MAX_ECHOES + 3)]
    answers = await asyncio.gather(*(post_offer(client, token, sdp) for token in tokens))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * MAX_ECHOES + [429] * 3, statuses
    assert {body["error"]["code"] for status, body in answers if status == 429} == {"busy"}


async def test_a_visit_may_check_again_once_its_echo_has_ended(make_client) -> None:
    """The browser closes its peer (it joins the line); the server frees the visit's slot."""
    client = await make_client()
    token = await new_visit(client)
    browser = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        browser.addTrack(VideoStreamTrack())
        await browser.setLocalDescription(await browser.createOffer())
        status, answer = await post_offer(client, token, browser.localDescription.sdp)
        assert status == 200 and answer["seconds"] > 0
        from aiortc import RTCSessionDescription

        await browser.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await eventually(lambda: browser.connectionState == "connected")
        assert (await post_offer(client, token, await browser_like_offer()))[0] == 409
    finally:
        await browser.close()
    echoes = client.server.app[ECHOES].by_visit
    await eventually(lambda: not echoes)
    status, _ = await post_offer(client, token, await browser_like_offer())
    assert status == 200


# --- the operator's STUN and TURN servers, never a public default ----------------------------

_LOOKUPS: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _LOOKUPS is not None and event in {"socket.gethostbyname", "socket.getaddrinfo"}:
        _LOOKUPS.append(str(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only inside a test


async def test_no_stun_server_is_used_when_none_is_configured(make_client) -> None:
    """aiortc's own default (stun.l.google.com) is never even looked up."""
    global _LOOKUPS
    client = await make_client()
    token, sdp = await new_visit(client), await browser_like_offer()
    _LOOKUPS = []
    try:
        status, answer = await post_offer(client, token, sdp)
        assert status == 200
        await asyncio.sleep(0)  # the executor thread's lookups were already awaited by gathering
        looked_up = list(_LOOKUPS)
    finally:
        _LOOKUPS = None
    assert not [name for name in looked_up if "google" in name or "stun" in name], looked_up
    assert "typ srflx" not in answer["sdp"]


@pytest.fixture
async def udp() -> AsyncIterator[Callable[..., Any]]:
    transports = []

    async def on_a_port(protocol: asyncio.DatagramProtocol) -> int:
        transport, port = await listen(protocol)
        transports.append(transport)
        return port

    yield on_a_port
    for transport in transports:
        transport.close()


async def test_the_configured_stun_server_is_the_one_asked(make_client, udp) -> None:
    server = StunResponder()
    port = await udp(server)
    client = await make_client(stun_urls=(f"stun:127.0.0.1:{port}",))
    status, answer = await post_offer(client, await new_visit(client), await browser_like_offer())
    assert status == 200
    assert [m.message_method for m in server.requests] == [stun.Method.BINDING]
    assert "typ srflx" in answer["sdp"]


@pytest.fixture
async def coturn(tmp_path) -> AsyncIterator[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """A real coturn with `use-auth-secret`, as production runs it (Debian's package)."""
    async with running_coturn(tmp_path, secret="echo-test-secret") as port:
        yield port, "echo-test-secret"


@pytest.mark.parametrize("right_secret", [True, False])
async def test_the_configured_turn_server_relays_with_browser_style_credentials(  # type: ignore[no-untyped-def]
    coturn, make_client, clock, right_secret: bool
) -> None:
    port, secret = coturn  # set up before the app, so it outlives the echo's TURN release
    clock.now = datetime.now(UTC)  # coturn checks the credential's expiry against its own clock
    client = await make_client(
        turn_urls=(f"turn:127.0.0.1:{port}",),
        turn_secret=secret if right_secret else "not-the-secret",
        echo_host_addresses=(),
    )
    status, answer = await post_offer(client, await new_visit(client), await browser_like_offer())
    assert status == 200
    found = answer_addresses(answer["sdp"])
    relays = [address for address, kind in found if kind == "relay"]
    # coturn refuses a credential not made with its secret: then there is nothing to announce.
    assert relays == (["127.0.0.1"] if right_secret else []), answer["sdp"]
    # Where coturn saw this server from is none of the browser's business (RFC 8839 placeholder).
    assert [address for address, kind in found if kind == "raddr"] == ["0.0.0.0"] * len(relays)
    assert all("rport 9" in line for line in answer["sdp"].splitlines() if "typ relay" in line)


# --- no packet to an address the operator did not allow ---------------------------------------


@pytest.mark.parametrize("allowed", [False, True])
async def test_a_private_candidate_in_the_offer_gets_no_packet_unless_allowed(
    make_client, udp, allowed: bool
) -> None:
    """An offer names 127.0.0.1:<a port this test listens on>. The window to wait is set by a
    control echo, answered *after* it by a server that allows private peers: once the control's
    first check has arrived, the first check to the target would have too (both run on this one
    event loop, and an echo starts its checks as soon as it answers)."""
    target, control = Counter(), Counter()
    target_port, control_port = await udp(target), await udp(control)
    client = await make_client(echo_allow_private_peers=allowed)
    controller = await make_client(echo_allow_private_peers=True)
    offer = await browser_like_offer()

    def naming(port: int) -> str:
        return only_candidates(offer, f"1 1 udp 2122260223 127.0.0.1 {port} typ host")

    assert (await post_offer(client, await new_visit(client), naming(target_port)))[0] == 200
    token = await new_visit(controller)
    assert (await post_offer(controller, token, naming(control_port)))[0] == 200
    await eventually(lambda: len(control.datagrams) > 0)
    if allowed:
        await eventually(lambda: len(target.datagrams) > 0)
        assert stun.parse_message(target.datagrams[0]).message_method == stun.Method.BINDING
    else:
        assert target.datagrams == []
        # And the echo still waits for the browser's own checks (peer-reflexive), not failed.
        assert len(client.server.app[ECHOES].by_visit) == 1


# --- the answer names only the operator's addresses -------------------------------------------


@pytest.mark.parametrize(
    ("host_addresses", "announced"),
    [
        (("127.0.0.1",), {"127.0.0.1"}),  # the default
        (("127.0.0.1", "::1"), {"127.0.0.1", "::1"}),
        ((), set()),  # `none`: relay candidates only, and there is no TURN server here
    ],
)
async def test_the_answer_names_only_the_configured_addresses(
    make_client, host_addresses: tuple[str, ...], announced: set[str]
) -> None:
    client = await make_client(echo_host_addresses=host_addresses)
    status, answer = await post_offer(client, await new_visit(client), await browser_like_offer())
    assert status == 200
    found = answer_addresses(answer["sdp"])
    assert {address for address, kind in found if kind not in {"c", "raddr"}} == announced
    assert {kind for _, kind in found if kind != "c"} <= {"host"}, answer["sdp"]
    # The c= line too: the first candidate's address, or the "no address" placeholder.
    assert {address for address, kind in found if kind == "c"} <= announced | {"0.0.0.0"}
