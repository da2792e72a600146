"""A customer (/visit) and an agent console (/console) in two pages of one Chromium complete a call:
video both ways, the customer's screen shown large in the console, a PDF opened in the console's
viewer, a note saved to the ticket, a transfer to a sign-language agent in a third page, wrap-up;
meanwhile a supervisor dashboard in a fourth page shows the waiting count rise and fall and the
agents' states change. axe-core checks the console in both languages; the console in a call is kept
as a screenshot.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from vbranch_server.app import create_app
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.db.models import CallRecord, Ticket, TicketEvent, TicketEventKind
from vbranch_server.i18n import Catalogs
from vbranch_server.keys import DB

from ..signaling.aiortc_peer import eventually
from ..signaling.conftest import ROUTING, staff_cookie
from .conftest import keep_for_docs, one_page_pdf, serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MESSAGES = Path(__file__).resolve().parents[2] / "server" / "vbranch_server" / "messages"
PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
PDF = one_page_pdf("National ID 1234567890")


def frames_decoded(holder: str) -> str:
    """Video frames decoded so far on the page's current peer connection (`window.<holder>.pc`)."""
    return f"""async () => {{
      const pc = window.{holder}.pc;
      if (!pc) return 0;
      let decoded = 0;
      (await pc.getStats()).forEach((s) => {{
        if (s.type === "inbound-rtp" && s.kind === "video") decoded += s.framesDecoded || 0;
      }});
      return decoded;
    }}"""


async def decodes_video(page: Any, holder: str) -> None:
    """Frames are decoded now and keep coming: real video, not one frozen frame."""
    await page.wait_for_function(
        f"async () => (await ({frames_decoded(holder)})()) > 0", timeout=20000, polling=200
    )
    first = await page.evaluate(frames_decoded(holder))
    await page.wait_for_function(
        f"async () => (await ({frames_decoded(holder)})()) > {first + 5}",
        timeout=10000,
        polling=200,
    )


async def log_in_to_console(page: Any, base: str, lang: str, username: str = "agent.ar") -> None:
    """Through the real login form, as an agent does."""
    await page.goto(f"{base}/login?lang={lang}&next=/console")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORDS[username])
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console")


async def open_console(browser: Any, base: str, username: str, lang: str, errors: list[str]) -> Any:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    await log_in_to_console(page, base, lang, username)
    await page.wait_for_function("() => window.agentConsole !== undefined")
    return page


async def go_available(page: Any) -> None:
    await page.check("#avail-available")
    await page.click("#apply-availability")
    await page.wait_for_selector("#agent-state.state-available")


async def open_dashboard(browser: Any, server: Any, base: str, lang: str, errors: list[str]) -> Any:
    """The supervisor's dashboard, signed in as the demo supervisor, once its socket is live."""
    context = await browser.new_context()
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": await staff_cookie(server, "supervisor"), "url": base}]
    )
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"supervisor: {error}"))
    await page.goto(f"{base}/supervisor?lang={lang}")
    await expect(page.locator("#connection")).to_have_text(
        re.compile("^(Live|مباشر)"), timeout=10000
    )
    return page


class Dashboard:
    """What the supervisor page says about one queue and the agents, in the page's language.

    The page draws the `stats` it gets once a second, so each check waits up to 10 s.
    """

    def __init__(self, page: Any, lang: str, queue: str) -> None:
        self.page = page
        self.texts = json.loads((MESSAGES / f"supervisor.{lang}.json").read_text("utf-8"))
        self.queue = queue

    async def waiting(self, count: int) -> None:
        cell = self.page.locator(f'#queues-body tr[data-id="{self.queue}"] td.waiting')
        # Intl's digits for "ar" are Arabic-Indic or Latin depending on the browser's CLDR data.
        digits = f"{count}|{'٠١٢٣٤٥٦٧٨٩'[count]}"
        await expect(cell).to_have_text(re.compile(f"^({digits})$"), timeout=10000)

    async def agent(self, name: str, state: str) -> None:
        """The agent's row says the state in words and marks it with its class."""
        cell = self.page.locator("#agents-body tr", has_text=name).locator("td.state")
        await expect(cell).to_have_text(self.texts[f"supervisor.state.{state}"], timeout=10000)
        await expect(cell).to_have_class(re.compile(rf"\bstate-{state}\b"))


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_call_from_the_console(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts: Path, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    pages: list[Any] = []
    try:
        console = await open_console(browser, base, "agent.ar", lang, errors)
        pages.append(console)
        assert await console.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        assert await serious_violations(console) == []
        supervisor = await open_dashboard(browser, server, base, lang, errors)
        pages.append(supervisor)
        dashboard = Dashboard(supervisor, lang, f"pensions|{lang}|-")

        # The customer joins while no agent is free: the supervisor sees them waiting.
        customer_context = await browser.new_context()
        customer = await customer_context.new_page()
        pages.append(customer)
        customer.on("pageerror", lambda error: errors.append(f"customer: {error}"))
        await customer.goto(f"{base}/visit?category=pensions&lang={lang}")
        await customer.fill("#display-name", "Huda")
        await customer.click("#start")
        await customer.wait_for_selector("#step-device:not([hidden])")
        await customer.click("#join")
        await customer.wait_for_selector("#step-waiting:not([hidden])")
        await dashboard.waiting(1)
        await expect(supervisor.locator("#waiting-body")).to_contain_text("Huda")

        await go_available(console)
        await console.screenshot(path=artifacts / "01-console-available.png")

        # The offer: an alert dialog with the customer's needs and a countdown. The customer has
        # left the line for this offer, so the dashboard's count falls and the agent is "offered".
        await console.wait_for_selector("#offer[role=alertdialog]:not([hidden])", timeout=20000)
        await dashboard.waiting(0)
        await dashboard.agent("Ahmad", "offered")
        assert await console.text_content("#offer-name") == "Huda"
        assert await console.text_content("#offer-service") == (
            "المعاشات" if lang == "ar" else "Pensions"
        )
        assert await console.text_content("#offer-countdown")
        assert await console.evaluate("() => document.activeElement.id") == "accept"
        assert await serious_violations(console) == []
        await console.screenshot(path=artifacts / "02-offer.png")
        await console.click("#accept")

        # Video both ways, decoded on both sides.
        await console.wait_for_selector("#call:not([hidden])")
        await customer.wait_for_selector("#step-call:not([hidden])")
        await decodes_video(console, "agentCall")
        await decodes_video(customer, "visit")
        await console.wait_for_selector("#ticket:not([hidden]) #ticket-reference:not(:empty)")
        reference = (await console.text_content("#ticket-reference")).strip()
        assert reference.startswith("VB-")
        await dashboard.agent("Ahmad", "on_call")
        await dashboard.waiting(0)

        # The customer shares their screen: it is shown large in the console, switchable.
        await asyncio.wait_for(customer.evaluate("startShare()"), 15)
        await console.wait_for_selector("#switch-view:not([hidden])", timeout=15000)
        await console.wait_for_function(
            "() => document.getElementById('main-video').videoWidth === 1280", timeout=15000
        )
        await console.click("#switch-view")
        await console.wait_for_function(
            "() => document.getElementById('main-video').videoWidth === 640"
        )
        await console.click("#switch-view")
        await console.wait_for_function(
            "() => document.getElementById('main-video').videoWidth === 1280"
        )

        # A PDF the customer uploads appears at once and opens in the console's viewer.
        await customer.set_input_files(
            "#file-input", files=[{"name": "id.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        opened = console.locator("#file-list li button")
        await opened.wait_for()
        async with console.expect_response("**/api/attachments/*") as downloaded:
            await opened.click()
        response = await downloaded.value
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        await console.wait_for_selector("#viewer:not([hidden]) iframe")
        await console.wait_for_function(
            "() => [...document.querySelectorAll('#file-list select')].length === 1"
        )
        viewer = next(f for f in console.frames if "/api/attachments/" in f.url)
        assert viewer.url.endswith(f"/api/attachments/{response.url.rsplit('/', 1)[1]}")
        # Chromium's own PDF viewer opens inside that frame (the file's sandbox does not stop it).
        await eventually(
            lambda: any(
                f.parent_frame is viewer and f.url.startswith("chrome-extension://")
                for f in console.frames
            ),
            within=15,
        )

        # The file is the national ID: the checklist ticks it off.
        await console.select_option("#file-list select", "national_id")
        await console.wait_for_selector("#documents li.done[data-document=national_id]")
        assert await console.locator("#documents li.missing").count() == 1

        # A note saved to the ticket, through the tickets API, into its history.
        await console.fill("#note-text", "Asked about the March payment")
        await console.click("#note-submit")
        await console.wait_for_selector(
            "#ticket-history li:has-text('Asked about the March payment')"
        )
        async with server.app[DB]() as db:
            ticket = await db.scalar(select(Ticket).where(Ticket.reference == reference))
            assert ticket is not None
            notes = (
                await db.scalars(
                    select(TicketEvent.body).where(
                        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == TicketEventKind.NOTE
                    )
                )
            ).all()
        assert "Asked about the March payment" in notes
        assert await console.get_attribute("#ticket-sla", "class") == "sla on_track"
        # A status change, offered only as the workflow allows, lands in the history too.
        await console.select_option("#status-select", "pending")
        await console.click("#status-submit")
        await console.wait_for_function(
            "() => [...document.querySelectorAll('#status-select option')].map(o => o.value)"
            ".join() === 'open,resolved'"
        )
        # created, assigned, opened, file received, file marked as the ID, note, pending.
        assert await console.locator("#ticket-history li").count() == 7
        # The mark reads as words in the page's language, with the document's own name.
        marked = Catalogs.load().gettext(
            lang,
            "console.event.document_marked",
            who="agent.ar",
            name="id.pdf",
            document={"en": "National ID", "ar": "الهوية الوطنية"}[lang],
        )
        await console.wait_for_selector(f"#ticket-history li:has-text('{marked}')")

        # Chat both ways.
        await console.fill("#chat-text", "Welcome")
        await console.press("#chat-text", "Enter")
        await console.wait_for_selector("#chat-log li:has-text('Welcome')")  # acknowledged
        await customer.wait_for_selector("#chat-log li:has-text('Welcome')")
        await customer.fill("#chat-text", "Thank you")
        await customer.press("#chat-text", "Enter")
        await console.wait_for_selector("#chat-log li:has-text('Thank you')")

        # The agent shares their own screen: the customer's page shows it (after renegotiation,
        # this time offered by the agent's side); mute is a toggle that says its state.
        await console.click("#share")
        await customer.wait_for_function(
            "() => document.getElementById('remote-video').videoWidth === 1280", timeout=15000
        )
        assert await console.get_attribute("#share", "aria-pressed") == "true"
        await console.click("#mute")
        assert await console.get_attribute("#mute", "aria-pressed") == "true"
        assert not await console.evaluate(
            "() => window.agentCall.local.getAudioTracks()[0].enabled"
        )
        await console.click("#mute")

        assert await serious_violations(console) == []
        await console.screenshot(path=artifacts / "03-in-call.png", full_page=True)
        if lang == "en":
            await keep_for_docs(console, "console-call.png")

        # Transfer to a sign-language agent, with a note the next agent sees.
        signer = await open_console(browser, base, "agent.sign", lang, errors)
        pages.append(signer)
        await go_available(signer)
        await dashboard.agent("Salma", "available")
        await console.check("#transfer-sign")
        await console.fill("#transfer-note", "Prefers signing")
        await console.click("#transfer-submit")
        await console.wait_for_selector("#wrap-up:not([hidden])")
        assert await console.text_content("#wrap-up-countdown")
        await signer.wait_for_selector("#offer:not([hidden])", timeout=20000)
        assert await signer.text_content("#offer-note") == "Prefers signing"
        await signer.click("#accept")
        await decodes_video(signer, "agentCall")
        await decodes_video(customer, "visit")
        await signer.wait_for_selector(f"#ticket-reference:text('{reference}')")
        await signer.screenshot(path=artifacts / "04-sign-language-agent.png")
        await dashboard.agent("Salma", "on_call")
        await dashboard.agent("Ahmad", "wrap_up")

        # Wrap-up of the first agent: outcome and notes, then available again.
        await console.select_option("#outcome", "follow_up")
        await console.fill("#wrap-up-notes", "Sent to sign language")
        assert await serious_violations(console) == []
        await console.click("#finish-wrap-up")
        await console.wait_for_selector("#wrap-up[hidden]", state="attached")
        await console.wait_for_selector("#agent-state.state-available")
        await dashboard.agent("Ahmad", "available")
        await console.wait_for_selector("#today-calls:text-matches('1|١')")
        # The ticket went with the customer: it is the sign-language agent's now, not ours.
        await console.wait_for_selector("#no-tickets:not([hidden])")
        await console.screenshot(path=artifacts / "05-after-wrap-up.png")

        # The second agent hangs up and wraps up too, choosing away.
        await signer.click("#hang-up")
        await signer.wait_for_selector("#wrap-up:not([hidden])")
        await customer.wait_for_selector("#step-after:not([hidden])")
        await signer.select_option("#outcome", "resolved")
        await signer.check("#next-away")
        await signer.click("#finish-wrap-up")
        await signer.wait_for_selector("#agent-state.state-away")
        await dashboard.agent("Salma", "away")
        await signer.wait_for_selector(f"#my-tickets tr:has-text('{reference}')")

        # The customer rates the call and follows the ticket with its reference and code.
        assert reference in await customer.text_content("#reference")
        code = (await customer.text_content("#secret-code")).split()[-1]
        await customer.check("#rating-5")
        await customer.click("#send-rating")
        await customer.wait_for_selector("#rating-form[hidden]", state="attached")
        await customer.click("#follow-link")
        await customer.fill("#code", code)
        await customer.click("#track-form button")
        await customer.wait_for_selector("#result p")
        async with server.app[DB]() as db:
            status = await db.scalar(select(Ticket.status).where(Ticket.reference == reference))
        texts = Catalogs.load()
        shown = texts.gettext(lang, "track.status", status=texts.gettext(lang, f"status.{status}"))
        assert await customer.text_content("#result p") == shown

        async with server.app[DB]() as db:
            records = (
                await db.execute(
                    select(CallRecord.end_reason, CallRecord.outcome, CallRecord.rating).order_by(
                        CallRecord.id
                    )
                )
            ).all()
        assert [tuple(r) for r in records] == [
            ("transferred", "follow_up", None),
            ("completed", "resolved", 5),
        ]
        assert errors == []
    finally:
        for page in pages:
            await page.context.close()


async def test_the_console_refuses_the_wrong_people(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser
) -> None:
    """No session: to the login; a supervisor's console cannot connect to /agent and says so."""
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(f"{base}/console")
        assert "/login?next=/console" in page.url
        await context.add_cookies(
            [
                {
                    "name": SESSION_COOKIE,
                    "value": await staff_cookie(server, "supervisor"),
                    "url": base,
                }
            ]
        )
        await page.goto(f"{base}/console?lang=en")
        await page.wait_for_selector("#error:not([hidden])")
        assert "namespace" in (await page.text_content("#error"))
    finally:
        await context.close()


async def test_an_offer_not_answered_is_withdrawn_from_the_console(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser
) -> None:
    """The countdown runs down, the offer goes when its time is up, and the console says why."""
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    console = await open_console(browser, base, "agent.en", "en", errors)
    customer_context = await browser.new_context()
    customer = await customer_context.new_page()
    try:
        await go_available(console)
        await customer.goto(f"{base}/visit?category=pensions&lang=en")
        await customer.click("#start")
        await customer.wait_for_selector("#step-device:not([hidden])")
        await customer.click("#join")
        await console.wait_for_selector("#offer:not([hidden])", timeout=20000)
        assert await console.text_content("#offer-sign") == "Not needed"
        first = await console.text_content("#offer-countdown")
        await console.wait_for_function(
            f"() => document.getElementById('offer-countdown').textContent !== {first!r}"
        )
        offered = await console.evaluate("() => window.agentConsole.offer.offer_id")
        clock.advance(seconds=21)  # the hub's timer sees the offer's time is up
        await console.wait_for_selector("#status:has-text('not answered in time')", timeout=10000)
        # The customer keeps their place; this agent, still the only one free, is offered them anew.
        await console.wait_for_selector("#offer:not([hidden])")
        assert await console.evaluate("() => window.agentConsole.offer.offer_id") != offered
        assert errors == []
    finally:
        await console.context.close()
        await customer_context.close()


async def test_a_session_that_runs_out_sends_console_and_dashboard_to_the_login(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser
) -> None:
    """The login session ends while the pages are open: the server closes their sockets and both
    pages go to the login, to come back to where they were, instead of saying "reconnecting"."""
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []
    console = await open_console(browser, base, "agent.en", "en", errors)
    dashboard = await open_dashboard(browser, server, base, "ar", errors)
    try:
        clock.advance(seconds=settings.session_ttl_seconds + 1)
        await console.wait_for_url(re.compile(r"/login\?next=/console$"), timeout=10000)
        await dashboard.wait_for_url(re.compile(r"/login\?next=/supervisor$"), timeout=10000)
        assert await console.locator("form").count() >= 1
        assert errors == []
    finally:
        await console.context.close()
        await dashboard.context.close()
