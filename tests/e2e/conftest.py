"""Real-browser tests: Playwright from PyPI driving Debian's Chromium with a fake camera and screen.

Chromium comes from the system (`apt-get install chromium`, done by scripts/test.sh); without it these
tests skip, except under CI=true where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vbranch_server.auth.sessions import SESSION_COOKIE

from ..signaling.conftest import Peer, staff_cookie

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not shutil.which(CHROMIUM):
        from tests.conftest import service_missing

        service_missing("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def clock(clock):  # type: ignore[no-untyped-def]
    """Sunday 2026-11-22 11:00 in Riyadh, 11:30 in Tehran: every demo service is open."""
    clock.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    return clock


DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def keep_for_docs(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Refresh a screenshot shown in the README, only when asked: UPDATE_DOCS_SCREENSHOTS=1.

    The pictures are tracked files; an ordinary test run must leave the checkout unchanged.
    """
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=DOCS_SCREENSHOTS / name, full_page=True)


async def available_agent(server, base: str, username: str = "agent.ar") -> Peer:  # type: ignore[no-untyped-def]
    """A Python agent connected to /agent with a real staff session, set available."""
    agent = Peer("/agent")
    await agent.connect(
        base, headers={"Cookie": f"{SESSION_COOKIE}={await staff_cookie(server, username)}"}
    )
    await agent.call("set_availability", {"state": "available"})
    return agent


def one_page_pdf(text: str) -> bytes:
    """A real PDF of one page showing `text` (ASCII), small enough for any upload limit."""
    stream = b"BT /F1 28 Tf 40 120 Td (" + text.encode("ascii") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 240] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return pdf


async def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings on the page, as "rule (impact)"."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']})"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
