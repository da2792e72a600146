"""The agent console's JSON (today's figures, the ticket beside the call, my tickets, marking a file as
a required document) and the console page itself. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from vbranch_server.db.models import Attachment, CallRecord, StaffUser, Ticket
from vbranch_server.keys import DB

from .test_tickets_api import Staff, assert_error, log_in

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # the FakeClock's start


async def _ticket_id(client: TestClient, reference: str) -> int:
    async with client.server.app[DB]() as db:
        ticket = await db.scalar(select(Ticket).where(Ticket.reference == reference))
        assert ticket is not None
        return ticket.id


async def _add_call(
    client: TestClient,
    ticket_id: int,
    agent_id: int,
    accepted_at: datetime,
    talk: float | None,
    outcome: str | None = None,
) -> None:
    async with client.server.app[DB]() as db, db.begin():
        db.add(
            CallRecord(
                call_id=f"call-{agent_id}-{accepted_at.timestamp()}",
                ticket_id=ticket_id,
                agent_id=agent_id,
                visit_id="visit-1",
                queue="pensions|ar|0",
                enqueued_at=accepted_at - timedelta(seconds=30),
                accepted_at=accepted_at,
                connected_at=accepted_at,
                ended_at=None if talk is None else accepted_at + timedelta(seconds=talk),
                wait_seconds=30,
                talk_seconds=talk,
                outcome=outcome,
            )
        )


async def _add_file(client: TestClient, ticket_id: int, name: str) -> int:
    async with client.server.app[DB]() as db, db.begin():
        attachment = Attachment(
            ticket_id=ticket_id,
            storage_name=f"stored-{name}",
            original_name=name,
            content_type="application/pdf",
            size_bytes=1234,
            sha256="0" * 64,
            uploaded_by_customer=True,
            created_at=T0,
        )
        db.add(attachment)
        await db.flush()
        return attachment.id


async def _me(client: TestClient, tz: str) -> Any:
    return await client.get("/api/console/me", params={"tz": tz})


async def test_today_counts_the_agents_calls_in_their_own_time_zone(client: TestClient) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]
    ticket_id = await _ticket_id(client, reference)
    async with client.server.app[DB]() as db:
        other_id = await db.scalar(select(StaffUser.id).where(StaffUser.username == "agent.en"))
    assert other_id is not None
    # 22:00 UTC yesterday is 01:00 today in Riyadh (UTC+3), and yesterday in UTC.
    await _add_call(client, ticket_id, agent.id, datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 200)
    await _add_call(client, ticket_id, agent.id, datetime(2026, 11, 21, 7, 0, tzinfo=UTC), 100)
    await _add_call(client, ticket_id, agent.id, datetime(2026, 11, 21, 7, 55, tzinfo=UTC), None)
    await _add_call(client, ticket_id, agent.id, datetime(2026, 11, 20, 20, 0, tzinfo=UTC), 999)
    await _add_call(client, ticket_id, other_id, datetime(2026, 11, 21, 7, 0, tzinfo=UTC), 999)

    riyadh = await (await _me(client, "Asia/Riyadh")).json()
    assert riyadh["user"]["username"] == "agent.ar"
    assert riyadh["today"] == {"day": "2026-11-21", "calls": 3, "average_talk_seconds": 150.0}
    utc = await (await _me(client, "UTC")).json()
    # The call still running counts as a call, but not in the average talk time.
    assert utc["today"] == {"day": "2026-11-21", "calls": 2, "average_talk_seconds": 100.0}
    assert datetime.fromisoformat(utc["server_now"]) == T0

    await log_in(client, "agent.en")
    alone = await (await _me(client, "Asia/Tehran")).json()
    assert alone["today"] == {"day": "2026-11-21", "calls": 1, "average_talk_seconds": 999.0}


async def test_today_without_calls_and_a_bad_time_zone(client: TestClient) -> None:
    await log_in(client, "agent.en")
    body = await (await _me(client, "Europe/London")).json()
    assert body["today"] == {"day": "2026-11-21", "calls": 0, "average_talk_seconds": None}
    for bad in ["Mars/Olympus", "../../etc/passwd", "x" * 65, "America", "America/Argentina"]:
        response = await _me(client, bad)
        assert response.status == 400, bad
        assert_error(await response.json(), "invalid_request")


async def test_the_ticket_beside_the_call_with_the_customers_past(client: TestClient) -> None:
    agent = await log_in(client, "agent.ar")
    first = (await agent.create(subject="First visit"))["ticket"]
    await agent.move(first["reference"], "open", "resolved")
    second = (await agent.create(customer=None, customer_id=first["customer_id"]))["ticket"]
    reference = second["reference"]
    await agent.post(f"/api/tickets/{reference}/notes", json={"body": "Asked about March"})
    ticket_id = await _ticket_id(client, reference)
    await _add_call(client, ticket_id, agent.id, T0 - timedelta(minutes=5), 240, "follow_up")
    file_id = await _add_file(client, ticket_id, "id.pdf")

    response = await client.get(f"/api/console/tickets/{reference}")
    assert response.status == 200, await response.text()
    context = await response.json()
    ticket = context["ticket"]
    assert (ticket["reference"], ticket["category"], ticket["status"]) == (
        reference,
        "pensions",
        "new",
    )
    assert (ticket["category_name_en"], ticket["category_name_ar"]) == ("Pensions", "المعاشات")
    at_risk = datetime.fromisoformat(ticket["resolution_at_risk_at"])
    assert T0 < at_risk < datetime.fromisoformat(ticket["resolution_due_at"])
    assert [d["code"] for d in context["required_documents"]] == ["national_id", "iban_certificate"]
    assert [(a["id"], a["name"], a["document_code"]) for a in context["attachments"]] == [
        (file_id, "id.pdf", None)
    ]
    assert [e["kind"] for e in context["history"]] == ["created", "assignment", "note"]
    assert context["history"][-1]["body"] == "Asked about March"
    assert [t["reference"] for t in context["earlier_tickets"]] == [first["reference"]]
    assert context["earlier_tickets"][0]["status"] == "resolved"
    [call] = context["calls"]
    assert (call["ticket_reference"], call["talk_seconds"], call["outcome"]) == (
        reference,
        240.0,
        "follow_up",
    )
    assert call["agent_name"] == "Ahmad (Arabic, English)"


async def test_an_agent_never_sees_the_past_of_a_customer_they_never_served(
    client: TestClient,
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]
    file_id = await _add_file(client, await _ticket_id(client, reference), "id.pdf")

    stranger = await log_in(client, "agent.en")
    for path in [f"/api/console/tickets/{reference}", "/api/console/tickets/VB-2026-999999"]:
        response = await client.get(path)
        assert response.status == 404, path
        assert_error(await response.json(), "not_found")
    # Nor mark (or learn of) their files.
    marked = await stranger.post(
        f"/api/console/attachments/{file_id}/document", json={"document_code": "national_id"}
    )
    assert marked.status == 404
    assert (await client.get("/api/console/my-tickets")).status == 200
    assert (await (await client.get("/api/console/my-tickets")).json())["tickets"] == []

    await log_in(client, "supervisor")
    response = await client.get(f"/api/console/tickets/{reference}")
    assert response.status == 200
    assert (await response.json())["ticket"]["reference"] == reference


async def test_my_tickets_are_open_ones_sorted_by_due_time(client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    agent = await log_in(client, "agent.ar")
    # Medical questions have seven working days, pensions three: created later, due sooner.
    slow = (await agent.create(category="medical"))["ticket"]["reference"]
    clock.advance(hours=1)
    fast = (await agent.create())["ticket"]["reference"]
    done = (await agent.create())["ticket"]["reference"]
    await agent.move(done, "open", "resolved")
    supervisor = await log_in(client, "supervisor")
    supervisor_ticket = (await supervisor.create())["ticket"]["reference"]

    await log_in(client, "agent.ar")
    body = await (await client.get("/api/console/my-tickets")).json()
    rows = body["tickets"]
    assert [r["reference"] for r in rows] == [fast, slow]
    assert supervisor_ticket not in [r["reference"] for r in rows]
    assert all(r["sla_state"] == "on_track" for r in rows)
    dues = [datetime.fromisoformat(r["resolution_due_at"]) for r in rows]
    assert dues == sorted(dues)

    # Past its at-risk instant the state says so; past its due time, breached.
    # (Days pass: the session of this morning has expired, so log in again.)
    clock.now = datetime.fromisoformat(rows[0]["resolution_at_risk_at"]) + timedelta(seconds=1)
    await log_in(client, "agent.ar")
    states = {r["reference"]: r["sla_state"] for r in (await _my(client))}
    assert states[fast] == "at_risk"
    clock.now = datetime.fromisoformat(rows[0]["resolution_due_at"]) + timedelta(seconds=1)
    await log_in(client, "agent.ar")
    states = {r["reference"]: r["sla_state"] for r in (await _my(client))}
    assert states[fast] == "breached"


async def _my(client: TestClient) -> list[dict[str, Any]]:
    response = await client.get("/api/console/my-tickets")
    assert response.status == 200
    return list((await response.json())["tickets"])


async def test_a_file_is_marked_as_a_required_document(client: TestClient) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]
    file_id = await _add_file(client, await _ticket_id(client, reference), "iban.pdf")
    path = f"/api/console/attachments/{file_id}/document"

    response = await agent.post(path, json={"document_code": "iban_certificate"})
    assert response.status == 200, await response.text()
    assert (await response.json())["document_code"] == "iban_certificate"
    context = await (await client.get(f"/api/console/tickets/{reference}")).json()
    assert context["attachments"][0]["document_code"] == "iban_certificate"
    # The mark lands in the ticket's history, with who made it.
    history = (await (await client.get(f"/api/tickets/{reference}")).json())["history"]
    assert [(e["kind"], e["body"]) for e in history][-1] == (
        "attachment",
        "iban.pdf = iban_certificate",
    )

    # A medical report is not a pensions document; bad bodies, no CSRF token, unknown files.
    refused = await agent.post(path, json={"document_code": "medical_report"})
    assert refused.status == 400
    assert_error(await refused.json(), "invalid_request")
    for body in [{"document_code": "Bad Code"}, {"document_code": 3}, {"other": 1}]:
        response = await agent.post(path, json=body)
        assert response.status == 400, body
    assert (await agent.post(path, data="x")).status == 415
    assert (await client.post(path, json={"document_code": None})).status == 403
    assert (await agent.post("/api/console/attachments/999/document", json={})).status == 404

    # Taking the mark off again.
    response = await agent.post(path, json={"document_code": None})
    assert (await response.json())["document_code"] is None
    history = (await (await client.get(f"/api/tickets/{reference}")).json())["history"]
    assert [e["body"] for e in history][-2:] == ["iban.pdf = iban_certificate", "iban.pdf = -"]


def _config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="console-config">(.*?)</script>', html)
    assert found, "the console's config is missing"
    return dict(json.loads(found.group(1)))


async def test_the_console_page_in_arabic_and_english(client: TestClient) -> None:
    staff: Staff = await log_in(client, "agent.sign")
    arabic = await (await client.get("/console?lang=ar")).text()
    assert '<html lang="ar" dir="rtl">' in arabic
    config = _config(arabic)
    assert config["lang"] == "ar"
    assert config["messages"]["console.accept"] == "قبول"
    assert config["csrf_token"] == staff.csrf
    assert config["wrap_up_seconds"] == 30
    assert config["transitions"]["new"] == ["open"]
    assert set(config["services"]) == {
        "pensions",
        "insurance_registration",
        "one_time_compensation",
        "medical",
    }
    # Only the console's texts travel to the browser.
    assert not [
        k for k in config["messages"] if not k.startswith(("console.", "language.", "error."))
    ]

    english = await (await client.get("/console?lang=en")).text()
    assert '<html lang="en" dir="ltr">' in english
    assert _config(english)["messages"]["console.accept"] == "Accept"
    for text in ["Incoming video call", "Wrap-up", "My open tickets", "Required documents"]:
        assert text in english
    assert "Salma (sign language)" in english
