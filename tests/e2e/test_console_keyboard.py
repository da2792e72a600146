"""An agent who uses only the keyboard can become available, accept an offer, hang up, fill in the
wrap-up and finish it, and always sees where the focus is."""

from __future__ import annotations

from typing import Any

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING, Peer, visit_token
from .test_console import open_console

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

FOCUSED = "() => document.activeElement && document.activeElement.id"
OUTLINE = "() => getComputedStyle(document.activeElement).outlineStyle"


async def tab_to(page: Any, element_id: str, limit: int = 40) -> None:
    """Press Tab until the element has the focus, and check the focus can be seen there."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(FOCUSED) == element_id:
            assert await page.evaluate(OUTLINE) != "none", f"#{element_id}: focus not visible"
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_console_with_the_keyboard_only(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    page = await open_console(browser, base, "agent.ar", lang, errors)
    customer = Peer("/customer")
    try:
        # Availability: Tab reaches the checked radio ("away"), an arrow key picks "available".
        await tab_to(page, "avail-away")
        await page.keyboard.press("ArrowUp")
        assert await page.is_checked("#avail-available")
        await tab_to(page, "apply-availability")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#agent-state.state-available")

        # The offer takes the focus on its accept button: Enter accepts.
        await customer.connect(base, auth={"token": (await visit_token(server, lang))["token"]})
        join = {"category": "pensions", "language": lang, "sign_language": False}
        assert (await customer.call("join", join))["ok"]
        await page.wait_for_selector("#offer:not([hidden])", timeout=20000)
        assert await page.evaluate(FOCUSED) == "accept"
        assert await page.evaluate(OUTLINE) != "none"
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#call:not([hidden])")
        await page.wait_for_selector("#agent-state.state-on_call")
        assert await page.evaluate(FOCUSED) == "call-heading"  # the call is announced

        # Hang up from the call's controls.
        await tab_to(page, "hang-up")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#wrap-up:not([hidden])")
        assert await page.evaluate(FOCUSED) == "wrap-up-heading"
        await customer.next("call_ended")

        # Wrap-up: an outcome chosen with the arrow keys, notes typed, "away" next, finish.
        first = await page.input_value("#outcome")
        await tab_to(page, "outcome")
        await page.keyboard.press("ArrowDown")
        chosen = await page.input_value("#outcome")
        assert chosen != first
        await tab_to(page, "wrap-up-notes")
        await page.keyboard.type("Called about the March payment")
        await tab_to(page, "next-available")
        await page.keyboard.press("ArrowDown")
        assert await page.is_checked("#next-away")
        await tab_to(page, "finish-wrap-up")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#agent-state.state-away")
        await page.wait_for_selector("#wrap-up[hidden]", state="attached")
        # The focus is not lost with the wrap-up form: it is back where availability is set.
        assert await page.evaluate(FOCUSED) == "avail-away"
        assert await page.evaluate(OUTLINE) != "none"
        assert errors == []
    finally:
        if customer.sio.connected:
            await customer.close()
        await page.context.close()
