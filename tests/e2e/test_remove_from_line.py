"""A supervisor removes a waiting customer from the dashboard; the customer's page says so.

In English and Arabic, with the confirmation (cancelling it removes nobody), and screenshots of the
dashboard at 1366x768 and 390x844 in both languages.
"""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app
from vbranch_server.realtime.wiring import HUB

from ..signaling.conftest import ROUTING, staff_cookie
from .conftest import serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TEXTS = {
    "en": {
        "name": "Huda",
        "done": "Done: Remove from line.",
        "action": "Remove from line",
        "removed": "You are no longer in line",
        "start_again": "Start again",
    },
    "ar": {
        "name": "هدى",
        "done": "تم: إخراج من الطابور.",
        "action": "إخراج من الطابور",
        "removed": "لم تعد في قائمة الانتظار",
        "start_again": "البدء من جديد",
    },
}
CUSTOMER_OPTIONS = "() => document.querySelectorAll('#remove-customer option').length === 2"


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_a_supervisor_removes_a_waiting_customer(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts, lang: str
) -> None:
    texts = TEXTS[lang]
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    errors: list[str] = []

    def watch(page) -> None:  # type: ignore[no-untyped-def]
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )

    customer_context = await browser.new_context(viewport={"width": 390, "height": 844})
    staff_context = await browser.new_context(viewport={"width": 1366, "height": 768})
    await staff_context.add_cookies(
        [{"name": "vb_session", "value": await staff_cookie(server, "supervisor"), "url": base}]
    )
    try:
        # The customer joins the line from their own page.
        customer = await customer_context.new_page()
        watch(customer)
        await customer.goto(f"{base}/visit?category=pensions&lang={lang}")
        await customer.fill("#display-name", texts["name"])
        await customer.click("#start")
        await customer.wait_for_selector("#step-device:not([hidden])")
        await customer.click("#join")
        await customer.wait_for_selector("#step-waiting:not([hidden])")

        dashboard = await staff_context.new_page()
        watch(dashboard)
        await dashboard.goto(f"{base}/supervisor?lang={lang}")
        await dashboard.wait_for_function(CUSTOMER_OPTIONS)
        await dashboard.select_option("#remove-customer", index=1)
        assert texts["name"] in await dashboard.text_content("#remove-customer")
        await dashboard.locator("#remove-form").scroll_into_view_if_needed()
        await dashboard.screenshot(path=artifacts / f"dashboard-{lang}-1366x768.png")

        # Asked first; cancelling removes nobody.
        await dashboard.click("#remove-form button[type=submit]")
        await dashboard.wait_for_selector("#remove-confirm[open]")
        assert texts["name"] in await dashboard.text_content("#remove-question")
        await dashboard.screenshot(path=artifacts / f"confirm-{lang}-1366x768.png")
        assert await serious_violations(dashboard) == []
        await dashboard.click("#remove-cancel")
        await dashboard.wait_for_selector("#remove-confirm", state="hidden")
        assert await dashboard.text_content("#action-result") == ""
        assert len((await server.app[HUB].supervisor_stats())["waiting"]) == 1

        # On a phone-sized screen the form and the question still read well.
        await dashboard.set_viewport_size({"width": 390, "height": 844})
        await dashboard.locator("#remove-form").scroll_into_view_if_needed()
        await dashboard.screenshot(path=artifacts / f"dashboard-{lang}-390x844.png")
        await dashboard.click("#remove-form button[type=submit]")
        await dashboard.wait_for_selector("#remove-confirm[open]")
        await dashboard.screenshot(path=artifacts / f"confirm-{lang}-390x844.png")

        # Confirmed: done, audited, and the customer's page says what happened, in its language.
        await dashboard.click("#remove-yes")
        await dashboard.wait_for_function(
            "(done) => document.getElementById('action-result').textContent === done",
            arg=texts["done"],
        )
        await dashboard.wait_for_function(
            "(action) => document.querySelector('#audit-body tr td:nth-child(3)')?.textContent"
            " === action",
            arg=texts["action"],
        )
        await customer.wait_for_selector("#step-removed:not([hidden])")
        assert await customer.text_content("#removed-heading") == texts["removed"]
        assert await customer.is_hidden("#step-waiting")
        assert await customer.text_content("#start-again") == texts["start_again"]
        assert await customer.get_attribute("#start-again", "href") == (
            f"/visit?category=pensions&lang={lang}"
        )
        assert await customer.text_content("#status") == ""  # not "reconnecting"
        await customer.screenshot(path=artifacts / f"customer-removed-{lang}-390x844.png")
        assert await serious_violations(customer) == []
        assert (await server.app[HUB].supervisor_stats())["waiting"] == []

        # Starting again: a new visit, back in line.
        await customer.click("#start-again")
        await customer.click("#start")
        await customer.wait_for_selector("#step-device:not([hidden])")
        await customer.click("#join")
        await customer.wait_for_selector("#step-waiting:not([hidden])")
        assert len((await server.app[HUB].supervisor_stats())["waiting"]) == 1
        assert errors == []
    finally:
        await customer_context.close()
        await staff_context.close()
