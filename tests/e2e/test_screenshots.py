"""The two screenshots in the README, taken from real runs that also check what they show: the Arabic
waiting room with the place in line and the estimated wait, and an English call in which the customer
shares their screen (the agent receives it) while the agent's video plays.

They land in test-artifacts/e2e/; with UPDATE_DOCS_SCREENSHOTS=1 also in docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs

from ..signaling.aiortc_peer import ProtocolPeer, eventually
from ..signaling.conftest import ROUTING, Peer, visit_token
from .conftest import available_agent, keep_for_docs, serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

VIEWPORT = {"width": 1000, "height": 720}
ARABIC_NUMBERS = "(ns) => ns.map((n) => new Intl.NumberFormat('ar').format(n))"
REMOTE_PLAYING = """() => { const v = document.getElementById("remote-video");
  return v.videoWidth > 0 && !v.paused && v.readyState >= 2; }"""
FRAMES_DECODED = """async () => {
  let decoded = 0;
  (await window.visit.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") decoded += s.framesDecoded || 0; });
  return decoded;
}"""


async def _keep(page, artifacts: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.screenshot(path=artifacts / name, full_page=True)
    await keep_for_docs(page, name)


async def test_arabic_waiting_room(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    join = {"category": "pensions", "language": "ar"}
    agent = await available_agent(server, base)
    served, ahead = Peer("/customer"), Peer("/customer")
    context = await browser.new_context(viewport=VIEWPORT, locale="ar")
    page = await context.new_page()
    try:
        # The only agent is busy with one customer; another waits: the page is second in line.
        await served.connect(base, auth={"token": (await visit_token(server))["token"]})
        await served.call("join", join)
        offer = await agent.next("offer")
        assert (await agent.call("accept", {"offer_id": offer["offer_id"]}))["ok"]
        await ahead.connect(base, auth={"token": (await visit_token(server))["token"]})
        await ahead.call("join", join)
        clock.advance(seconds=5)  # the page joins later, so it waits behind

        await page.goto(f"{base}/visit?category=pensions&lang=ar")
        await page.fill("#display-name", "هدى")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")
        await page.wait_for_selector("#step-waiting:not([hidden])")
        texts = Catalogs.load()
        # Second in line, one staffed agent, the default handling time for each of the two.
        minutes = max(1, round(2 * ROUTING.default_handle_seconds / 60))
        digits = await page.evaluate(
            ARABIC_NUMBERS, [2, minutes]
        )  # as the page's locale writes them
        place = texts.gettext("ar", "visit.position", position=digits[0])
        eta = texts.gettext("ar", "visit.eta", minutes=digits[1])
        await page.wait_for_function(
            "(text) => document.getElementById('position').textContent === text",
            arg=f"{place}. {eta}",
        )
        assert await page.get_attribute("html", "dir") == "rtl"
        for step in ("#step-start", "#step-device", "#step-call"):  # one step at a time
            assert not await page.is_visible(step), step
        assert await serious_violations(page) == []
        await _keep(page, artifacts, "ar-waiting-room.png")
    finally:
        for peer in (served, ahead, agent):
            if peer.sio.connected:
                await peer.close()
        await context.close()


async def test_english_call_with_a_shared_screen(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    agent_socket = await available_agent(server, base)
    context = await browser.new_context(viewport=VIEWPORT, locale="en")
    page = await context.new_page()
    agent = None
    try:
        await page.goto(f"{base}/visit?category=pensions&lang=en")
        await page.fill("#display-name", "Huda")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")
        offer = await agent_socket.next("offer", within=20)
        answer = await agent_socket.call("accept", {"offer_id": offer["offer_id"]})
        agent = ProtocolPeer(agent_socket, answer["call_id"], answer["ice_servers"])
        agent.send_media(video_level=128)
        agent.serve_signals()
        await page.wait_for_selector("#step-call:not([hidden])")
        await agent.wait_connected()
        await page.fill("#chat-text", "I will show you the letter on my screen.")
        await page.press("#chat-text", "Enter")
        assert (await agent_socket.next("chat"))["text"].startswith("I will show you")
        await agent_socket.call(
            "chat", {"call_id": answer["call_id"], "text": "Thank you, I see it."}
        )

        await page.click("#share")
        await page.wait_for_selector("#sharing:not([hidden])")
        assert await page.get_attribute("#share", "aria-pressed") == "true"
        await eventually(lambda: len([t for t in agent.tracks if t.kind == "video"]) == 2)
        screen = [t for t in agent.tracks if t.kind == "video"][1]
        await agent.wait_frames(f"video{agent.tracks.index(screen) + 1}", 5)  # the agent sees it
        await page.wait_for_selector("#chat-log li:has-text('Thank you, I see it.')")
        await page.wait_for_function(REMOTE_PLAYING)
        decoded = await page.evaluate(FRAMES_DECODED)
        await page.wait_for_function(f"async () => (await ({FRAMES_DECODED})()) > {decoded}")
        assert not await page.is_visible("#step-device")
        assert await serious_violations(page) == []
        await _keep(page, artifacts, "en-call-shared-screen.png")
    finally:
        if agent is not None:
            await agent.close()
        await agent_socket.close()
        await context.close()
