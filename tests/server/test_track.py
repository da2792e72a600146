"""The customer's follow-up, POST /api/track: reference plus secret code, rate-limited.

Public: no staff session is involved. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.db.models import Attachment, Ticket
from vbranch_server.keys import DB

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
NATIONAL_ID = {"code": "national_id", "name_en": "National ID", "name_ar": "الهوية الوطنية"}
IBAN = {"code": "iban_certificate", "name_en": "IBAN certificate", "name_ar": "شهادة الآيبان"}


async def open_tickets(client: TestClient, *categories: str) -> list[tuple[str, str]]:
    """Tickets opened by an agent: (reference, secret code) each; then the agent logs out."""
    login = await client.post(
        "/api/login", json={"username": "agent.ar", "password": PASSWORDS["agent.ar"]}
    )
    csrf = (await login.json())["csrf_token"]
    opened = []
    for category in categories:
        response = await client.post(
            "/api/tickets",
            json={"category": category, "subject": "Question", "customer": {"display_name": "A"}},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status == 201, await response.text()
        body = await response.json()
        opened.append((body["ticket"]["reference"], body["secret_code"]))
    client.session.cookie_jar.clear()  # the customer has no staff session
    return opened


async def change_status(client: TestClient, reference: str, *statuses: str) -> None:
    """A supervisor moves the ticket through `statuses`, then logs out again."""
    login = await client.post(
        "/api/login", json={"username": "supervisor", "password": PASSWORDS["supervisor"]}
    )
    csrf = (await login.json())["csrf_token"]
    for status in statuses:
        response = await client.post(
            f"/api/tickets/{reference}/status",
            json={"status": status},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status == 200
    client.session.cookie_jar.clear()


async def track(client: TestClient, **body: Any) -> Any:
    return await client.post("/api/track", json=body)


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert set(body["error"]) - {"details"} == {"code", "message"}, body
    assert body["error"]["code"] == code, body


@asynccontextmanager
async def from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A customer on another loopback address (127.0.0.0/8), so `request.remote` differs."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_reference_and_code_show_the_status_and_due_date(client: TestClient) -> None:
    [(reference, code)] = await open_tickets(client, "pensions")
    response = await track(client, reference=reference, code=code)
    assert response.status == 200
    assert await response.json() == {
        "reference": reference,
        "status": "new",
        "category_en": "Pensions",
        "category_ar": "المعاشات",
        "created_at": "2026-11-21T08:00:00Z",
        "resolution_due_at": "2026-11-25T13:00:00Z",
        "resolved_at": None,
        "on_hold": False,
        "documents_missing": [NATIONAL_ID, IBAN],
    }


async def test_tracking_follows_status_changes(client: TestClient, clock: Any) -> None:
    [(reference, code)] = await open_tickets(client, "medical")
    clock.advance(hours=3)
    await change_status(client, reference, "open", "resolved")
    body = await (await track(client, reference=reference, code=code)).json()
    assert body["status"] == "resolved"
    assert body["resolved_at"] == "2026-11-21T11:00:00Z"
    # No internal detail leaks to the customer.
    assert not {"history", "assigned_agent", "customer_id", "subject"} & set(body)


async def test_a_customer_waited_on_sees_the_answer_time_on_hold_and_what_to_bring(
    client: TestClient, clock: Any
) -> None:
    [(reference, code)] = await open_tickets(client, "pensions")
    # During the call the customer showed their ID: the agent marked the file as that document.
    async with client.server.app[DB]() as db, db.begin():
        ticket = await db.scalar(select(Ticket).where(Ticket.reference == reference))
        assert ticket is not None
        db.add(
            Attachment(
                ticket_id=ticket.id,
                storage_name="a" * 32,
                original_name="id.pdf",
                content_type="application/pdf",
                size_bytes=10,
                sha256="0" * 64,
                document_code="national_id",
                uploaded_by_customer=True,
                created_at=clock(),
            )
        )
    await change_status(client, reference, "open", "pending")
    body = await (await track(client, reference=reference, code=code)).json()
    assert (body["status"], body["on_hold"], body["documents_missing"]) == ("pending", True, [IBAN])


async def test_a_wrong_code_looks_like_an_unknown_reference(client: TestClient) -> None:
    [(reference, code), (other_reference, other_code)] = await open_tickets(
        client, "pensions", "medical"
    )
    wrong_code = await track(client, reference=reference, code="ABCDEFGHJK")
    assert wrong_code.status == 404
    wrong_body = await wrong_code.json()
    assert_error(wrong_body, "not_found")

    # Another ticket's code does not open this one.
    crossed = await track(client, reference=reference, code=other_code)
    assert crossed.status == 404
    assert await crossed.json() == wrong_body

    unknown = await track(client, reference="VB-2026-999999", code=code)
    assert unknown.status == 404
    assert await unknown.json() == wrong_body
    assert reference not in str(wrong_body)

    assert (await track(client, reference=other_reference, code=other_code)).status == 200


async def test_the_code_ignores_case_spaces_and_dashes(client: TestClient) -> None:
    [(reference, code)] = await open_tickets(client, "pensions")
    for typed in (
        code.lower(),
        f"{code[:5]}-{code[5:]}",
        f"{code[:3]} {code[3:6]} {code[6:]}".lower(),
        f" {code[:5].lower()}-{code[5:]} ",
    ):
        response = await track(client, reference=reference, code=typed)
        assert response.status == 200, typed
    # Only those: a code with a character changed is still wrong.
    changed = ("B" if code[0] != "B" else "C") + code[1:]
    assert (await track(client, reference=reference, code=changed)).status == 404


async def test_reference_alone_is_a_bad_request(client: TestClient) -> None:
    [(reference, _)] = await open_tickets(client, "pensions")
    for body in (
        {"reference": reference},
        {"reference": reference, "code": ""},
        {"code": "ABCDEFGHJK"},
        {"reference": reference.lower(), "code": "ABCDEFGHJK"},
        {"reference": reference, "code": "ABCDEFGHJK", "name": "Ali"},
    ):
        response = await track(client, **body)
        assert response.status == 400, body
        assert_error(await response.json(), "invalid_request")
    form = await client.post("/api/track", data={"reference": reference, "code": "x"})
    assert form.status == 415


async def test_the_eleventh_wrong_code_in_ten_minutes_is_refused(client: TestClient) -> None:
    [(reference, code), (other_reference, other_code)] = await open_tickets(
        client, "pensions", "medical"
    )
    async with from_address("127.0.0.2") as guesser:
        url = client.make_url("/api/track")
        for n in range(10):
            guess = {"reference": reference, "code": f"ABCDEFGH{n:02d}"}
            async with guesser.post(url, json=guess) as response:
                assert response.status == 404, n
        async with guesser.post(url, json={"reference": reference, "code": "ABCDEFGHJK"}) as r:
            assert r.status == 429
            assert_error(await r.json(), "too_many_attempts")
            assert 1 <= int(r.headers["Retry-After"]) <= 601
        # Now even the right code from that address is refused...
        async with guesser.post(url, json={"reference": reference, "code": code}) as r:
            assert r.status == 429
        # ...for this reference and for any other.
        body = {"reference": other_reference, "code": other_code}
        async with guesser.post(url, json=body) as r:
            assert r.status == 429

    # The guesser's address is locked, not the reference: its customer can still follow it.
    assert (await track(client, reference=reference, code=code)).status == 200
    assert (await track(client, reference=other_reference, code=other_code)).status == 200
