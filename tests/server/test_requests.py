"""Requests left outside opening hours become tickets with their SLA clock, followable by code."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

REQUEST = {"category": "medical", "language": "en", "message": "Is my treatment covered?\nThanks"}


async def test_a_left_request_becomes_a_ticket(client: TestClient) -> None:
    response = await client.post(
        "/api/requests", json={**REQUEST, "display_name": "Omar", "phone": "+98 21 1234"}
    )
    assert response.status == 201
    body = await response.json()
    assert body["reference"].startswith("VB-2026-") and len(body["secret_code"]) == 10
    # medical on IR-1420: 7 working days from Saturday 2026-11-21 11:30 Tehran, due Sun 29 20:00.
    assert body["resolution_due_at"] == "2026-11-29T16:30:00+00:00"  # Fri closed: Sat 28 is day 6
    tracked = await client.post(
        "/api/track", json={"reference": body["reference"], "code": body["secret_code"]}
    )
    assert tracked.status == 200 and (await tracked.json())["status"] == "new"


async def test_bad_requests_are_refused(client: TestClient) -> None:
    for bad in (
        {**REQUEST, "message": "  "},
        {**REQUEST, "category": "Medical!"},
        {**REQUEST, "phone": "call me"},
        {**REQUEST, "extra": 1},
    ):
        assert (await client.post("/api/requests", json=bad)).status == 400, bad
    assert (
        await client.post("/api/requests", json={**REQUEST, "category": "astrology"})
    ).status == 404


async def test_one_address_cannot_flood_the_crm(client: TestClient) -> None:
    statuses = [(await client.post("/api/requests", json=REQUEST)).status for _ in range(6)]
    assert statuses == [201] * 5 + [429]
