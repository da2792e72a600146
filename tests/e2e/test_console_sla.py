"""The ticket beside the call counts down to its SLA due time, and turns amber when at risk and red
when breached, saying so in words too (colour alone would not reach everyone), in both languages.

The browser's `Date` is Playwright's (`page.clock.set_fixed_time`): stopped, then set forward by
exactly the seconds needed, so the countdown's own once-a-second tick is what turns the badge, with
no waiting for real deadlines. The page's timers keep running for real (a paused or fast-forwarded
timer clock would fire Socket.IO's ping timeout and drop the connection). The server's clock (the
test's `clock`) stays where it is; the ticket's deadlines are set just ahead of it in the database.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import update

from vbranch_server.app import create_app
from vbranch_server.db.models import Ticket
from vbranch_server.keys import DB

from ..signaling.conftest import ROUTING, Peer, visit_token
from .conftest import serious_violations
from .test_console import log_in_to_console

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MESSAGES = Path(__file__).resolve().parents[2] / "server" / "vbranch_server" / "messages"
#: Intl may write Arabic with Arabic-Indic digits; the texts are compared with Latin ones.
LATIN = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
AMBER, RED = "rgb(255, 210, 122)", "rgb(164, 0, 0)"


def text_of(texts: dict[str, str], key: str, **values: object) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), texts[key])


async def badge(page: Any) -> tuple[str, str, str]:
    """The SLA badge's class, its text (Latin digits) and its background colour."""
    return await page.evaluate(
        """() => {
          const span = document.getElementById("ticket-sla");
          return [span.className, span.textContent, getComputedStyle(span).backgroundColor];
        }"""
    )


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_sla_countdown_turns_amber_then_red(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    texts = json.loads((MESSAGES / f"console.{lang}.json").read_text("utf-8"))
    errors: list[str] = []
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    customer = Peer("/customer")
    try:
        await log_in_to_console(page, base, lang)
        await page.check("#avail-available")
        await page.click("#apply-availability")
        await page.wait_for_selector("#agent-state.state-available")

        # A customer (a bare socket: only the ticket matters here) is offered and accepted.
        await customer.connect(base, auth={"token": (await visit_token(server, lang))["token"]})
        join = {"category": "pensions", "language": lang, "sign_language": False}
        assert (await customer.call("join", join))["ok"]
        await page.click("#accept", timeout=20000)
        await page.wait_for_selector("#ticket:not([hidden]) #ticket-reference:not(:empty)")
        reference = (await page.text_content("#ticket-reference")).strip()
        state, _, _ = await badge(page)
        assert state == "sla on_track"  # a new ticket has its working days ahead of it

        # The deadlines come close: at risk in 5 s, due in 10 s (server time). The browser's clock
        # stands still; a note saved reloads the ticket, which takes the server's "now" as its own.
        async with server.app[DB]() as db, db.begin():
            await db.execute(
                update(Ticket)
                .where(Ticket.reference == reference)
                .values(
                    resolution_at_risk_at=clock() + timedelta(seconds=5),
                    resolution_due_at=clock() + timedelta(seconds=10),
                )
            )
        start = await page.evaluate("Date.now() / 1000")  # Playwright takes seconds here
        await page.clock.set_fixed_time(start)
        await page.fill("#note-text", "Waiting for the bank statement")
        await page.click("#note-submit")
        await page.wait_for_selector(
            "#ticket-history li:has-text('Waiting for the bank statement')"
        )
        state, words, _ = await badge(page)
        on_track = text_of(texts, "console.sla.on_track")
        span = text_of(texts, "console.span_minutes", minutes=0, seconds=10)
        remaining = text_of(texts, "console.sla_remaining", span=span)
        assert (state, words.translate(LATIN)) == ("sla on_track", f"{remaining} ({on_track})")

        # 6 s later the countdown has turned amber on its own, and says "at risk".
        await page.clock.set_fixed_time(start + 6)
        at_risk = text_of(texts, "console.sla.at_risk")
        span = text_of(texts, "console.span_minutes", minutes=0, seconds=4)
        remaining = text_of(texts, "console.sla_remaining", span=span)
        await expect(page.locator("#ticket-sla")).to_have_class("sla at_risk")
        state, words, colour = await badge(page)
        assert (words.translate(LATIN), colour) == (f"{remaining} ({at_risk})", AMBER)

        # 7 s more: due 3 s ago. Red, and it says so.
        await page.clock.set_fixed_time(start + 13)
        breached = text_of(texts, "console.sla.breached")
        span = text_of(texts, "console.span_minutes", minutes=0, seconds=3)
        overdue = text_of(texts, "console.sla_overdue", span=span)
        await expect(page.locator("#ticket-sla")).to_have_class("sla breached")
        state, words, colour = await badge(page)
        assert (words.translate(LATIN), colour) == (f"{overdue} ({breached})", RED)

        # Now the ticket waits on the customer. The server's clock has not moved, so its clock
        # stopped with 10 s left: the badge says so and stays so, however late the browser gets.
        for status in ("open", "pending"):
            if await page.locator(f"#status-select option[value='{status}']").count():
                await page.select_option("#status-select", status)
                await page.click("#status-submit")
                # The ticket is read again after the change: then the next choices are offered.
                label = texts[f"console.status.{status}"]
                await expect(page.locator("#ticket-status")).to_have_text(label)
        span = text_of(texts, "console.span_minutes", minutes=0, seconds=10)
        paused = f"{text_of(texts, 'console.sla_paused', span=span)} ({on_track})"
        for later in (start + 20, start + 3600):
            await page.clock.set_fixed_time(later)
            await page.wait_for_timeout(1100)  # a tick of the countdown
            state, words, _ = await badge(page)
            assert (state, words.translate(LATIN)) == ("sla on_track", paused)

        assert await serious_violations(page) == []
        assert errors == []
    finally:
        if customer.sio.connected:
            await customer.close()
        await context.close()
