"""The waiting room: live position, and a lost connection that reconnects by itself and keeps the place."""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app
from vbranch_server.realtime.wiring import HUB

from ..signaling.aiortc_peer import eventually
from ..signaling.conftest import ROUTING, Peer, staff_cookie, visit_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

JOIN = {"category": "pensions", "language": "en"}


async def test_the_place_survives_a_dropped_connection(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    hub = server.app[HUB]
    base = str(server.make_url("/")).rstrip("/")
    ahead = Peer("/customer")  # someone already waiting, so the page is second in line
    await ahead.connect(base, auth={"token": (await visit_token(server))["token"]})
    await ahead.call("join", JOIN)
    clock.advance(seconds=5)
    context = await browser.new_context()
    page = await context.new_page()
    agent = Peer("/agent")
    try:
        await page.goto(f"{base}/visit?category=pensions&lang=en")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")
        await page.wait_for_selector("#step-waiting:not([hidden])")
        await page.wait_for_function(
            "() => document.getElementById('position').textContent.includes('2')"
        )
        await page.screenshot(path=artifacts / "01-second-in-line.png")

        # Drop the transport; socket.io reconnects with the same visit token.
        await page.evaluate("() => window.visit.socket.io.engine.close()")
        await page.wait_for_function("() => window.visit.socket.connected", timeout=15000)
        await eventually(lambda: not hub.registry.grace, within=10)
        await page.wait_for_function(
            "() => document.getElementById('position').textContent.includes('2')"
        )
        assert await page.is_visible("#step-waiting")

        # The place was kept: the first agent serves the customer ahead, the second serves the page.
        await ahead.call("leave", {})
        await page.wait_for_function(
            "() => document.getElementById('position').textContent.includes('1')"
        )
        await agent.connect(
            base, headers={"Cookie": f"vb_session={await staff_cookie(server, 'agent.ar')}"}
        )
        await agent.call("set_availability", {"state": "available"})
        offer = await agent.next("offer")
        assert offer["customer"]["category"] == "pensions"
    finally:
        await ahead.close()
        if agent.sio.connected:
            await agent.close()
        await context.close()
