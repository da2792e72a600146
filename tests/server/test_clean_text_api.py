"""Names, subjects and notes typed into the JSON API, and staff names made by the CLI, are stored
without control or format characters (the rule of vbranch_signaling.plain_text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from vbranch_server.auth.staff import add_staff_user
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import StaffRole

from .test_security_headers import settled
from .test_tickets_api import log_in

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RLO, ZWSP, LRM = "\u202e", "\u200b", "\u200e"


async def test_ticket_texts_are_stored_cleaned(client: TestClient) -> None:
    agent = await log_in(client, "agent.ar")
    created = await agent.create(
        subject=f"Pension{ZWSP} not{RLO} paid",
        customer={"display_name": f"{LRM}Ali{RLO} Hassan\x07"},
        note=f"first line\r\nsecond{RLO} line\ttabbed",
    )
    ticket = created["ticket"]
    assert ticket["subject"] == "Pension not paid"
    assert ticket["customer_name"] == "Ali Hassan"
    reference = ticket["reference"]
    note = await agent.post(f"/api/tickets/{reference}/notes", json={"body": f"ok{ZWSP}\n done"})
    assert note.status in (200, 201), await note.text()

    detail = await (await agent.read(reference)).json()
    bodies = [event["body"] for event in detail["history"] if event["body"]]
    assert "first line\nsecond line\ttabbed" in bodies
    assert "ok\n done" in bodies

    # Only invisible characters: empty, so refused with the usual error.
    refused = await agent.post(f"/api/tickets/{reference}/notes", json={"body": RLO + ZWSP})
    assert refused.status == 400
    await settled(client)


async def test_a_staff_display_name_is_cleaned(settings) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            user = await add_staff_user(
                session,
                username="agent.new",
                password="a long enough password 123",
                role=StaffRole.AGENT,
                display_name=f"Noor{RLO}{ZWSP} Ahmed",
                languages=["ar"],
                categories=[],
                sign_language=False,
                now=datetime(2026, 11, 21, tzinfo=UTC),
            )
            assert user.display_name == "Noor Ahmed"
    finally:
        await engine.dispose()
