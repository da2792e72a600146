"""The dashboard's SLA board follows the server's clock by itself, and a ticket that becomes breached
raises a visible alert (role=alert) naming it; at risk alone does not. Both languages.

The board reloads on its own timer; the application is told to reload it every half second
(`PANEL_REFRESH`) instead of every 30 s, so the test waits for the page, never for a fixed time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from vbranch_server.app import create_app
from vbranch_server.crm.tickets import NewTicket, create_ticket
from vbranch_server.db.models import StaffUser, TicketChannel
from vbranch_server.keys import DB
from vbranch_server.web.supervisor_api import PANEL_REFRESH

from ..signaling.conftest import ROUTING, staff_cookie
from .conftest import serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MESSAGES = Path(__file__).resolve().parents[2] / "server" / "vbranch_server" / "messages"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_new_breach_raises_an_alert(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, lang: str
) -> None:
    app = create_app(settings, clock=clock, routing=ROUTING)
    app[PANEL_REFRESH] = {"sla": 0.5}
    server = await aiohttp_server(app)
    base = str(server.make_url("/")).rstrip("/")
    texts = json.loads((MESSAGES / f"supervisor.{lang}.json").read_text("utf-8"))

    # A ticket of Ahmad's, due in 2 minutes, at risk from 1 minute (the server's clock jumps no
    # further: the supervisor's session would end with a jump of days).
    async with server.app[DB]() as db, db.begin():
        ahmad = await db.scalar(select(StaffUser).where(StaffUser.username == "agent.ar"))
        assert ahmad is not None
        new = NewTicket(
            category_code="pensions",
            subject="March pension not paid",
            channel=TicketChannel.WEB_REQUEST,
            language=lang,
            customer_name="Huda",
            assigned_agent_id=ahmad.id,
        )
        ticket = (await create_ticket(db, new, clock(), None)).ticket
        reference = ticket.reference
        ticket.resolution_at_risk_at = clock() + timedelta(minutes=1)
        ticket.resolution_due_at = clock() + timedelta(minutes=2)

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_cookies(
        [{"name": "vb_session", "value": await staff_cookie(server, "supervisor"), "url": base}]
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(f"{base}/supervisor?lang={lang}")
        board = page.locator("#sla-body")
        alert = page.locator("#breach-alert")
        row = board.locator(f'tr[data-id="{reference}"]')
        await expect(board).to_have_text(texts["supervisor.sla.none"])
        await expect(alert).to_be_hidden()

        # At risk: on the board, soonest due first, with its agent; no alert yet.
        clock.advance(seconds=90)
        await expect(row.locator("td.sla-at_risk")).to_have_text(texts["supervisor.sla.at_risk"])
        await expect(row).to_contain_text("Ahmad")
        await expect(alert).to_be_hidden()

        # Past its due time: the board says breached and an alert names the ticket.
        clock.advance(seconds=60)
        await expect(row.locator("td.sla-breached")).to_have_text(texts["supervisor.sla.breached"])
        announced = page.get_by_role("alert")
        await expect(announced).to_be_visible()
        await expect(announced).to_have_text(
            texts["supervisor.sla.new_breach"].replace("{references}", reference)
        )
        assert await page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert await serious_violations(page) == []

        assert errors == []
    finally:
        await context.close()
