"""Every page's footer links to the source code (AGPL-3.0 section 13), in Arabic and English, on a
laptop and a phone, without crowding the page: screenshots in test-artifacts/e2e/test_footer*/.

The link is the last thing on the page, one or two short lines, inside the viewport's width.
"""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app
from vbranch_server.i18n import Catalogs

from ..signaling.conftest import ROUTING, staff_cookie

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
PAGES = [
    ("start", None, "/"),
    ("visit", None, "/visit?category=pensions"),
    ("track", None, "/track"),
    ("login", None, "/login"),
    ("console", "agent.ar", "/console"),
    ("supervisor", "supervisor", "/supervisor"),
]
FOOTER_BOX = """() => {
  const footer = document.querySelector("footer.site-footer");
  const box = footer.getBoundingClientRect();
  const line = parseFloat(getComputedStyle(footer).lineHeight);
  return { left: box.left, right: box.right, width: box.width,
           lines: Math.round((box.height - 2 * parseFloat(getComputedStyle(footer).paddingTop)) / line),
           wideElements: [...document.querySelectorAll("body *")]
             .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
             .map((e) => e.tagName + "." + e.className).slice(0, 5),
           lastElement: document.body.lastElementChild.tagName };
}"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["ar", "en"])
async def test_the_footer_links_to_the_source_on_every_page(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts, lang, viewport
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    texts = Catalogs.load().messages[lang]
    size = VIEWPORTS[viewport]
    for name, who, path in PAGES:
        context = await browser.new_context(viewport=size, locale=lang)
        if who is not None:
            cookie = await staff_cookie(server, who)
            await context.add_cookies([{"name": "vb_session", "value": cookie, "url": base}])
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        try:
            separator = "&" if "?" in path else "?"
            await page.goto(f"{base}{path}{separator}lang={lang}")
            await page.wait_for_load_state("networkidle")
            link = page.locator("footer.site-footer a")
            assert await link.get_attribute("href") == "/source", name
            assert (await link.inner_text()).strip() == texts["footer.source"], name
            footer = await page.evaluate(FOOTER_BOX)
            assert footer["lastElement"] == "FOOTER", name  # nothing placed after it
            # Within the screen's width (the console's own layout is for a desk, not a phone).
            assert 0 <= footer["left"] and footer["right"] <= size["width"], (name, footer)
            assert not [e for e in footer["wideElements"] if "footer" in e.lower()], footer
            assert footer["lines"] <= 2, (name, footer)  # a short line, not a block of text
            await page.screenshot(path=artifacts / f"{name}-{lang}-{viewport}.png", full_page=True)
            assert errors == [], (name, errors)
            # The link works: the archive of the running source.
            response = await page.request.get(f"{base}/source")
            assert response.status == 200 and response.headers["content-type"] == "application/gzip"
        finally:
            await context.close()
