"""The supervisor dashboard in a real browser: live counts and states, an action, accessibility."""

from __future__ import annotations

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING, Peer, staff_cookie, visit_token
from .conftest import keep_for_docs, serious_violations

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Nobody signed in serves sign language, so this customer waits however agent.ar is set.
JOIN = {"category": "pensions", "language": "en", "sign_language": True, "display_name": "Huda"}
WAITING = "document.querySelector('#queues-body td.waiting')?.textContent"


def agent_state(name: str) -> str:
    return (
        "() => [...document.querySelectorAll('#agents-body tr')].some(r => "
        f"r.textContent.includes('Ahmad') && r.querySelector('.state')?.textContent === '{name}')"
    )


async def test_the_dashboard_follows_the_queue_and_the_agents(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, artifacts
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_cookies(
        [{"name": "vb_session", "value": await staff_cookie(server, "supervisor"), "url": base}]
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    agent, customer = Peer("/agent"), Peer("/customer")
    try:
        await page.goto(f"{base}/supervisor?lang=en")
        await page.wait_for_function(
            "() => document.getElementById('connection').textContent.startsWith('Live')"
        )

        # An agent signs in and becomes available: the dashboard shows it.
        await agent.connect(
            base, headers={"Cookie": f"vb_session={await staff_cookie(server, 'agent.ar')}"}
        )
        await agent.call("set_availability", {"state": "available"})
        await page.wait_for_function(agent_state("available"))

        # A customer joins: the waiting count rises, and they are listed for the actions.
        await customer.connect(base, auth={"token": (await visit_token(server, "en"))["token"]})
        assert (await customer.call("join", JOIN))["ok"]
        await page.wait_for_function(f"() => {WAITING} === '1'")
        assert "Huda" in await page.text_content("#waiting-body")

        # An action from the dashboard: it is acknowledged and lands in the audit log.
        await page.wait_for_function(
            "() => document.querySelectorAll('#priority-customer option').length === 2"
        )
        await page.select_option("#priority-customer", index=1)
        await page.fill("#priority-value", "7")
        await page.click("#priority-form button[type=submit]")
        await page.wait_for_function(
            "() => document.getElementById('action-result').textContent.startsWith('Done')"
        )
        await page.wait_for_function(
            "() => document.querySelector('#audit-body tr td:nth-child(3)')?.textContent === 'Change priority'"
        )
        assert "Samira" in await page.text_content("#audit-body")
        await page.wait_for_function(
            "() => document.querySelector('#waiting-body td:nth-child(5)')?.textContent === '7'"
        )
        assert await serious_violations(page) == []
        await keep_for_docs(page, "supervisor-dashboard.png")

        # The customer leaves: the count falls. The agent steps away: the state changes.
        assert (await customer.call("leave", {}))["ok"]
        await page.wait_for_function(f"() => {WAITING} === '0'")
        await agent.call("set_availability", {"state": "away"})
        await page.wait_for_function(agent_state("away"))

        # Arabic: right to left, Arabic texts and digits, and no serious axe finding either.
        await page.goto(f"{base}/supervisor?lang=ar")
        await page.wait_for_function(
            "() => document.getElementById('connection').textContent.startsWith('مباشر')"
        )
        assert await page.get_attribute("html", "dir") == "rtl"
        await page.wait_for_function(
            "() => document.querySelector('#agents-body .state')?.textContent === 'بعيد'"
        )
        assert await serious_violations(page) == []
        await page.screenshot(path=artifacts / "supervisor-ar.png", full_page=True)
        assert errors == []
    finally:
        for peer in (agent, customer):
            if peer.sio.connected:
                await peer.close()
        await context.close()
