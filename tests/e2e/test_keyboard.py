"""A customer who uses only the keyboard can start a visit, join the line and leave it, and always
sees where the focus is."""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

FOCUSED = "() => document.activeElement && document.activeElement.id"
OUTLINE = "() => getComputedStyle(document.activeElement).outlineStyle"


async def _tab_to(page, element_id: str, limit: int = 20) -> None:  # type: ignore[no-untyped-def]
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(FOCUSED) == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab")


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_visit_with_the_keyboard_only(
    aiohttp_server, settings, clock, demo_data, browser, lang
) -> None:  # type: ignore[no-untyped-def]
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(
            f"{str(server.make_url('/')).rstrip('/')}/visit?category=pensions&lang={lang}"
        )
        await _tab_to(page, "sign-language")
        assert await page.evaluate(OUTLINE) != "none"  # a visible focus
        await page.keyboard.press("Space")
        assert await page.is_checked("#sign-language")
        await _tab_to(page, "display-name")
        await page.keyboard.type("Huda")
        await _tab_to(page, "start")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#step-device:not([hidden])")
        await _tab_to(page, "join")
        assert await page.evaluate(OUTLINE) != "none"
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#step-waiting:not([hidden])")
        await page.wait_for_selector("#position:not(:empty)")
        await _tab_to(page, "leave")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/")
    finally:
        await context.close()
