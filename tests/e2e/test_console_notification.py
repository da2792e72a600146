"""An offer that arrives while the console's tab is in the background raises a browser notification
(with the service and language, tagged with the offer) and sounds a tone; one that arrives in view
does not notify.

Two stand-ins, both needed in headless Chromium 156 and said here plainly:
- The background. Nothing tried there hides a page: another page brought to the front, a new
  foreground tab in the same window (CDP Target.createTarget) and a minimized window
  (Browser.setWindowBounds) all leave `document.hidden` false. So an init script lets the test
  answer `document.hidden` / `visibilityState`, and fires `visibilitychange` when it changes them.
- Seeing the notification. No Playwright or CDP API lists a page's notifications, so
  `window.Notification` is wrapped by a subclass that records each one and then calls the real
  constructor: Chromium really shows it (the permission is granted to the context), and the record
  says so only once the real notification's `show` event has fired.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vbranch_server.app import create_app

from ..signaling.conftest import ROUTING, Peer, visit_token
from .test_console import go_available, log_in_to_console

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MESSAGES = Path(__file__).resolve().parents[2] / "server" / "vbranch_server" / "messages"
BACKGROUND_AND_RECORDING = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get: () => (hidden ? "hidden" : "visible") });
  window.testSetHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  // The audible alert: each tone the console starts is recorded, then played for real.
  window.testTones = [];
  const startTone = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.testTones.push(this.frequency.value);
    return startTone.apply(this, args);
  };
  const Real = window.Notification;
  window.testNotifications = [];
  window.Notification = class RecordedNotification extends Real {
    constructor(title, options = {}) {
      super(title, options);
      const entry = { title, body: options.body, tag: options.tag, lang: options.lang, shown: false };
      window.testNotifications.push(entry);
      this.addEventListener("show", () => { entry.shown = true; });
    }
  };
})();
"""


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_an_offer_in_the_background_raises_a_notification(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data, browser, lang: str
) -> None:
    server = await aiohttp_server(create_app(settings, clock=clock, routing=ROUTING))
    base = str(server.make_url("/")).rstrip("/")
    console_texts = json.loads((MESSAGES / f"console.{lang}.json").read_text("utf-8"))
    common = json.loads((MESSAGES / f"{lang}.json").read_text("utf-8"))
    errors: list[str] = []
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=base)
    await context.add_init_script(BACKGROUND_AND_RECORDING)
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    customer = Peer("/customer")
    try:
        await log_in_to_console(page, base, lang)
        assert await page.evaluate("Notification.permission") == "granted"
        await go_available(page)

        # The agent looks at another tab; a customer comes: the offer shows and is notified.
        await page.evaluate("testSetHidden(true)")
        await customer.connect(base, auth={"token": (await visit_token(server, lang))["token"]})
        join = {"category": "pensions", "language": lang, "sign_language": False}
        assert (await customer.call("join", join))["ok"]
        await page.wait_for_selector("#offer:not([hidden])", timeout=20000)
        first = await page.evaluate("() => window.agentConsole.offer.offer_id")
        await page.wait_for_function("() => testNotifications.some((n) => n.shown)")
        assert await page.evaluate("testTones.length") > 0  # and it was heard, not only seen
        notes: list[dict[str, Any]] = await page.evaluate("testNotifications")
        service = await page.text_content("#offer-service")
        assert notes == [
            {
                "title": console_texts["console.offer_title"],
                "body": f"{service} · {common[f'language.{lang}']}",
                "tag": first,
                "lang": lang,
                "shown": True,
            }
        ]

        # Back in the tab: the agent rejects; the same customer is offered again, in view, and
        # no second notification comes.
        await page.evaluate("testSetHidden(false)")
        await page.click("#reject")
        await page.wait_for_function(
            f"() => window.agentConsole.offer && window.agentConsole.offer.offer_id !== {first!r}"
        )
        assert await page.is_visible("#offer")
        assert len(await page.evaluate("testNotifications")) == 1
        assert errors == []
    finally:
        if customer.sio.connected:
            await customer.close()
        await context.close()
