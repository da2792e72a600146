"""A customer in Chromium completes a whole visit with a Python (aiortc) agent speaking the protocol:
video both ways, chat both ways, a PDF upload, a screen share, hang-up, rating, following the ticket.
The same in English and in Arabic, with screenshots of each step kept as test artifacts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs

from ..signaling.aiortc_peer import ProtocolPeer, eventually
from ..signaling.conftest import ROUTING
from .conftest import available_agent, serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FRAMES_DECODED = """async () => {
  const stats = await window.visit.pc.getStats();
  let decoded = 0;
  stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") decoded += s.framesDecoded || 0; });
  return decoded;
}"""


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_whole_visit(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts: Path, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    agent_socket = await available_agent(server, base)
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    agent = None
    try:
        # Start page in the chosen language, right to left for Arabic.
        await page.goto(f"{base}/visit?category=pensions&lang={lang}")
        assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert await serious_violations(page) == []
        await page.screenshot(path=artifacts / "01-start.png")
        await page.fill("#display-name", "Huda")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
        # The echo test measured a real loop through the server's aiortc peer.
        await page.wait_for_function("() => window.visit.echo !== undefined", timeout=20000)
        echo = await page.evaluate("() => window.visit.echo")
        assert echo["rtt"] is not None and echo["fps"] > 0, echo
        assert await page.text_content("#echo-result")
        await page.screenshot(path=artifacts / "02-device-check.png")
        await page.click("#join")

        offer = await agent_socket.next("offer", within=20)
        assert offer["customer"]["display_name"] == "Huda" and offer["customer"]["language"] == lang
        answer = await agent_socket.call("accept", {"offer_id": offer["offer_id"]})
        agent = ProtocolPeer(agent_socket, answer["call_id"], answer["ice_servers"])
        agent.send_media(video_level=180)
        agent.serve_signals()  # the browser (polite) makes the first offer; aiortc answers

        await page.wait_for_selector("#step-call:not([hidden])")
        await agent.wait_connected()
        await agent.wait_frames("video", 10)
        first = await page.evaluate(FRAMES_DECODED)
        await asyncio.sleep(1.5)
        assert await page.evaluate(FRAMES_DECODED) > first > 0  # the page decodes the agent's video
        await page.screenshot(path=artifacts / "03-in-call.png")

        # Chat both ways.
        await page.fill("#chat-text", "Hello from the browser")
        await page.press("#chat-text", "Enter")
        assert (await agent_socket.next("chat"))["text"] == "Hello from the browser"
        await agent_socket.call("chat", {"call_id": answer["call_id"], "text": "Welcome"})
        await page.wait_for_selector("#chat-log li:has-text('Welcome')")

        # A PDF upload reaches the agent and the ticket.
        await page.set_input_files(
            "#file-input", files=[{"name": "id.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        shared = await agent_socket.next("file_shared")
        assert (shared["name"], shared["content_type"]) == ("id.pdf", "application/pdf")
        await page.wait_for_selector("#file-list li")
        # A text file named .pdf is refused, and the page says why in its own language.
        await page.set_input_files(
            "#file-input",
            files=[{"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"just text"}],
        )
        texts = Catalogs.load()
        refused = texts.gettext(
            lang, "visit.upload_failed", reason=texts.gettext(lang, "error.unsupported_file")
        )
        await page.wait_for_selector(f"#file-list li:has-text('{refused}')")

        # Screen share: a second video track arrives at the agent after renegotiation.
        await asyncio.wait_for(page.evaluate("startShare()"), 15)
        assert await page.is_visible("#sharing")
        await eventually(lambda: len([t for t in agent.tracks if t.kind == "video"]) == 2)
        screen = [t for t in agent.tracks if t.kind == "video"][1]
        await agent.wait_frames(f"video{agent.tracks.index(screen) + 1}", 5)
        await page.screenshot(path=artifacts / "04-sharing.png")
        assert await serious_violations(page) == []

        # Hang up, rate, and follow the ticket with its reference and code.
        await page.click("#hang-up")
        await page.wait_for_selector("#step-after:not([hidden])")
        assert (await agent_socket.next("call_ended"))["reason"] == "completed"
        reference_text = await page.text_content("#reference")
        assert answer["ticket_reference"] in reference_text
        code = (await page.text_content("#secret-code")).split()[-1]
        await page.screenshot(path=artifacts / "05-after.png")
        await page.check("#rating-4")
        await page.click("#send-rating")
        await page.wait_for_selector("#rating-form[hidden]", state="attached")
        await page.click("#follow-link")
        await page.fill("#code", code)
        await page.click("#track-form button")
        await page.wait_for_selector("#result p")
        assert await serious_violations(page) == []
        await page.screenshot(path=artifacts / "06-track.png")
        assert errors == []
    finally:
        if agent is not None:
            await agent.close()
        await agent_socket.close()
        await context.close()
