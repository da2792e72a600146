"""The device check tells the customer clearly, in their language, when the camera is refused or
missing; and the start page has no serious accessibility problem in either language."""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING
from .conftest import serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

REFUSE = (
    "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', '{name}'));"
)


@pytest.mark.parametrize(
    ("lang", "error", "expected"),
    [
        ("en", "NotAllowedError", "Allow them in the address bar"),
        ("en", "NotFoundError", "No camera or microphone was found"),
        ("ar", "NotAllowedError", "اسمح بهما من شريط العنوان"),
    ],
)
async def test_refused_or_missing_camera_is_explained(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, lang, error, expected
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.add_init_script(REFUSE.replace("{name}", error))
        await page.goto(
            f"{str(server.make_url('/')).rstrip('/')}/visit?category=pensions&lang={lang}"
        )
        await page.click("#start")
        await page.wait_for_selector("#error:not([hidden])")
        assert expected in await page.text_content("#error")
    finally:
        await context.close()


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_start_and_track_pages_pass_axe(
    aiohttp_server, settings, clock, demo_data, browser, lang
) -> None:  # type: ignore[no-untyped-def]
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    try:
        for path in ("/", "/track", "/login"):
            await page.goto(f"{base}{path}?lang={lang}")
            assert await page.get_attribute("html", "lang") == lang
            serious = await serious_violations(page)
            assert serious == [], (path, serious)
    finally:
        await context.close()
