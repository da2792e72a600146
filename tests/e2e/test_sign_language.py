"""A deaf customer's request is offered only to a sign-language agent, and their camera is sent for
motion (frame rate first), as sign language needs."""

from __future__ import annotations

import asyncio

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING, Peer, staff_cookie
from .conftest import available_agent, serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SENDER_SETTINGS = """async () => {
  const sender = window.visit.pc.getSenders().find((s) => s.track && s.track.kind === "video");
  return { hint: sender.track.contentHint, preference: sender.getParameters().degradationPreference,
           frameRate: sender.track.getSettings().frameRate };
}"""


async def test_sign_language_goes_only_to_a_signer(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    hearing = await available_agent(server, base)
    context = await browser.new_context()
    page = await context.new_page()
    signer = Peer("/agent")
    try:
        await page.goto(f"{base}/visit?category=medical&lang=ar")
        await page.check("#sign-language")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")
        await page.wait_for_selector("#step-waiting:not([hidden])")
        await page.wait_for_selector("#position:not(:empty)")
        assert await serious_violations(page) == []
        await page.screenshot(path=artifacts / "01-waiting.png")
        # The hearing agent is free, yet is not offered the call.
        await asyncio.sleep(1.5)
        assert hearing.pending("offer") == 0

        await signer.connect(
            base, headers={"Cookie": f"vb_session={await staff_cookie(server, 'agent.sign')}"}
        )
        await signer.call("set_availability", {"state": "available"})
        offer = await signer.next("offer")
        assert offer["customer"]["sign_language"] is True
        answer = await signer.call("accept", {"offer_id": offer["offer_id"]})
        assert answer["ok"]
        await page.wait_for_selector("#step-call:not([hidden])")
        await page.wait_for_function(
            "() => window.visit.pc && window.visit.pc.getSenders().length >= 2"
        )
        sent = await page.evaluate(SENDER_SETTINGS)
        assert sent["hint"] == "motion"
        assert sent["preference"] == "maintain-framerate"
        assert hearing.pending("offer") == 0
    finally:
        await hearing.close()
        if signer.sio.connected:
            await signer.close()
        await context.close()
