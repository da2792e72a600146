"""The customer's page says, in its language, why a file was refused by the per-call caps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs

from ..signaling.conftest import ROUTING
from .conftest import available_agent

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_page_says_the_call_has_all_its_files(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts: Path, lang: str
) -> None:
    one_file = dataclasses.replace(settings, uploads_per_call=1)
    server = await aiohttp_server(create_app(one_file, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    agent = await available_agent(server, base)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(f"{base}/visit?category=pensions&lang={lang}")
        await page.click("#start")
        await page.wait_for_selector("#step-device:not([hidden])")
        await page.click("#join")
        offer = await agent.next("offer", within=20)
        assert (await agent.call("accept", {"offer_id": offer["offer_id"]}))["ok"]
        await page.wait_for_selector("#step-call:not([hidden])")

        for name in ("id.pdf", "bill.pdf"):
            await page.set_input_files(
                "#file-input",
                files=[{"name": name, "mimeType": "application/pdf", "buffer": PDF}],
            )
            await page.wait_for_function(
                "(name) => [...document.querySelectorAll('#file-list li')]"
                ".some((li) => li.textContent.includes(name))"
                " || document.querySelectorAll('#file-list li').length === 2",
                arg=name,
            )
        texts = Catalogs.load()
        refused = texts.gettext(
            lang, "visit.upload_failed", reason=texts.gettext(lang, "error.too_many_files")
        )
        items = await page.locator("#file-list li").all_text_contents()
        assert items == [texts.gettext(lang, "visit.uploaded", name="id.pdf"), refused]
        await page.locator("#file-list").scroll_into_view_if_needed()
        await page.screenshot(path=artifacts / f"upload-refused-{lang}-390x844.png")
        assert (await agent.next("file_shared"))["name"] == "id.pdf"
        assert agent.pending("file_shared") == 0
        assert errors == []
    finally:
        await agent.close()
        await context.close()
