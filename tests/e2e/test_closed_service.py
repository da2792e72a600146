"""Outside opening hours the customer is told when the service opens and may leave a request,
which becomes a ticket they can follow with its reference and secret code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING
from .conftest import serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_leave_a_request_when_closed(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts, lang
) -> None:
    clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # a Friday: both demo calendars closed
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{base}/?lang={lang}")
        opens = await page.text_content("li[data-category='pensions'] time")
        assert opens and "2026" not in opens  # formatted for people, not the raw ISO string
        await page.click("li[data-category='pensions'] a")
        await page.wait_for_selector("#closed:not([hidden])")
        assert not await page.is_visible("#start")
        await page.fill("#display-name", "Omar")
        await page.fill("#request-message", "I need my pension statement")
        await page.click("#send-request")
        await page.wait_for_selector("#request-result p")
        lines = await page.locator("#request-result p").all_text_contents()
        reference = next(word for line in lines for word in line.split() if word.startswith("VB-"))
        code = lines[2].split()[-1]
        assert await serious_violations(page) == []
        await page.screenshot(path=artifacts / "01-request-left.png")

        await page.goto(f"{base}/track?reference={reference}&lang={lang}")
        await page.fill("#code", code)
        await page.click("#track-form button")
        await page.wait_for_selector("#result p")
        assert len(await page.locator("#result p").all_text_contents()) == 2
        # What to bring next time: the service's required documents, none received yet.
        expected = {
            "en": ["National ID", "IBAN certificate"],
            "ar": ["الهوية الوطنية", "شهادة الآيبان"],
        }
        assert await page.locator("#missing li").all_text_contents() == expected[lang]
        await page.screenshot(path=artifacts / "02-tracked.png")
    finally:
        await context.close()
