"""In a call with a Python (aiortc) agent, the customer's mute and camera toggles really stop their
microphone and camera (the agent hears silence, sees black), say so to screen readers (aria-pressed
and a label in the page's language), and work from the keyboard; in English and in Arabic."""

from __future__ import annotations

import array
from typing import Any

import pytest
from aiortc import MediaStreamTrack

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs

from ..signaling.aiortc_peer import ProtocolPeer, eventually
from ..signaling.conftest import ROUTING
from .conftest import available_agent

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: An audio frame with a sample above this (of 32767) is sound; a muted track sends zeros.
LOUD = 1000
#: Mean luma (0-255) of a frame: the fake camera's picture is well above, a black frame below.
DARK = 40
#: Audio frames (20 ms each) long enough to hear the fake microphone's beep, unless muted.
SILENCE = 150
FOCUSED = "() => document.activeElement && document.activeElement.id"
SENT = """(kind) => {
  const sender = window.visit.pc.getSenders().find((s) => s.track && s.track.kind === kind);
  const local = kind === "audio" ? window.visit.local.getAudioTracks() : window.visit.local.getVideoTracks();
  return { sent: sender.track.enabled, local: local.map((t) => t.enabled), same: local.includes(sender.track) };
}"""


class ListeningAgent(ProtocolPeer):
    """The agent, also noting how loud each audio frame is and how bright each video frame is."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loud = 0
        self.luma: list[float] = []

    async def _read(self, track: MediaStreamTrack, number: int) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if track.kind == "audio":
                samples = array.array("h", bytes(frame.planes[0]))
                self.loud += max(map(abs, samples), default=0) > LOUD
            else:
                small = frame.reformat(width=32, height=24, format="gray").planes[0]
                data = bytes(small)
                rows = [data[y * small.line_size : y * small.line_size + 32] for y in range(24)]
                self.luma.append(sum(map(sum, rows)) / (32 * 24))
            self.frames[f"{track.kind}{number}"] += 1
            self.frames[track.kind] += 1


async def _tab_to(page, element_id: str, limit: int = 25) -> None:  # type: ignore[no-untyped-def]
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(FOCUSED) == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


async def _frames_later(agent: ListeningAgent, kind: str, count: int) -> None:
    """Wait until `count` more frames of `kind` have reached the agent."""
    target = agent.frames[kind] + count
    await eventually(lambda: agent.frames[kind] >= target)


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_mute_and_camera_toggles(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    texts = Catalogs.load()
    agent_socket = await available_agent(server, base)
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    agent = None
    try:
        await page.goto(f"{base}/visit?category=pensions&lang={lang}")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")  # at once: joining waits for the camera by itself
        offer = await agent_socket.next("offer", within=20)
        answer = await agent_socket.call("accept", {"offer_id": offer["offer_id"]})
        agent = ListeningAgent(agent_socket, answer["call_id"], answer["ice_servers"])
        agent.send_media(video_level=180)
        agent.serve_signals()
        await page.wait_for_selector("#step-call:not([hidden])")
        await agent.wait_connected()
        # Before: the agent hears the fake microphone's beeps and sees the fake camera's picture.
        await eventually(lambda: agent.loud > 0 and bool(agent.luma) and agent.luma[-1] > DARK)
        heard = agent.loud
        await _frames_later(agent, "audio", SILENCE)
        assert agent.loud > heard  # unmuted, such a window is never silent
        mute, camera = page.locator("#mute"), page.locator("#camera")

        # Mute, from the keyboard.
        await _tab_to(page, "mute")
        await page.keyboard.press("Space")
        await expect_toggle(mute, True, texts.gettext(lang, "visit.mute"))
        assert await page.evaluate(SENT, "audio") == {"sent": False, "local": [False], "same": True}
        await _frames_later(agent, "audio", 25)  # what was already on its way
        loud = agent.loud
        await _frames_later(agent, "audio", SILENCE)
        assert agent.loud == loud, "the agent still hears the customer"
        await page.screenshot(path=artifacts / "01-muted.png")

        await page.keyboard.press("Enter")
        await expect_toggle(mute, False, texts.gettext(lang, "visit.mute"))
        assert (await page.evaluate(SENT, "audio"))["sent"] is True
        await eventually(lambda: agent.loud > loud)  # heard again

        # Camera off, from the keyboard: the agent gets black frames.
        await _tab_to(page, "camera")
        await page.keyboard.press("Space")
        await expect_toggle(camera, True, texts.gettext(lang, "visit.camera_off"))
        assert await page.evaluate(SENT, "video") == {"sent": False, "local": [False], "same": True}
        await eventually(lambda: agent.luma[-1] < DARK)
        await page.screenshot(path=artifacts / "02-camera-off.png")
        await page.keyboard.press("Enter")
        await expect_toggle(camera, False, texts.gettext(lang, "visit.camera_off"))
        await eventually(lambda: agent.luma[-1] > DARK)
        assert (await page.evaluate(SENT, "audio"))["sent"] is True  # the camera left the mic alone
        assert errors == []
    finally:
        if agent is not None:
            await agent.close()
        await agent_socket.close()
        await context.close()


async def expect_toggle(button, pressed: bool, label: str) -> None:  # type: ignore[no-untyped-def]
    """A toggle keeps its name whatever its state; aria-pressed says the state."""
    from playwright.async_api import expect

    await expect(button).to_have_attribute("aria-pressed", "true" if pressed else "false")
    await expect(button).to_have_text(label)
    await expect(button).to_be_focused()


async def test_a_customer_without_camera_still_sees_and_hears_the_agent(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser
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
        await page.add_init_script(
            "navigator.mediaDevices.getUserMedia = () => "
            "Promise.reject(new DOMException('no', 'NotFoundError'));"
        )
        await page.goto(f"{base}/visit?category=pensions&lang=en")
        await page.click("#start")
        await page.wait_for_selector("#error:not([hidden])")
        await page.click("#join")
        offer = await agent_socket.next("offer", within=20)
        answer = await agent_socket.call("accept", {"offer_id": offer["offer_id"]})
        agent = ListeningAgent(agent_socket, answer["call_id"], answer["ice_servers"])
        agent.send_media(video_level=180)
        agent.serve_signals()
        await page.wait_for_selector("#step-call:not([hidden])")
        await agent.wait_connected()
        await page.wait_for_function("() => document.getElementById('remote-video').videoWidth > 0")
        await page.wait_for_function(
            """async () => { let heard = 0; (await window.visit.pc.getStats()).forEach((s) => {
              if (s.type === "inbound-rtp" && s.kind === "audio") heard += s.totalSamplesReceived || 0; });
              return heard > 0; }"""
        )
        await page.click("#mute")  # nothing to mute: no error either
        assert agent.frames["video"] == 0 and errors == []
    finally:
        if agent is not None:
            await agent.close()
        await agent_socket.close()
        await context.close()
