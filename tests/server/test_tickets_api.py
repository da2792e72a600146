"""The tickets API over HTTP: creation, SLA clocks, filters, the status workflow, notes,
validation, who sees what, and the append-only history. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from vbranch_server.crm.demo import DEMO_CALENDARS, DEMO_CATEGORIES, DEMO_LOGINS
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import (
    Customer,
    Ticket,
    TicketCounter,
    TicketEvent,
)
from vbranch_server.settings import Settings
from vbranch_server.sla import BusinessCalendar, weekly_hours_from_mapping, working_days_after

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # Saturday; the FakeClock's start
CUSTOMER = {"display_name": "Ali Hassan", "phone": "+966 50 123 4567"}

#: The workflow, written out here rather than read from the code under test.
ALLOWED = {
    ("new", "open"),
    ("open", "pending"),
    ("open", "resolved"),
    ("pending", "open"),
    ("pending", "resolved"),
    ("resolved", "open"),
    ("resolved", "closed"),
}
#: How to bring a new ticket to each status.
PATH_TO = {
    "new": [],
    "open": ["open"],
    "pending": ["open", "pending"],
    "resolved": ["open", "resolved"],
    "closed": ["open", "resolved", "closed"],
}


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def postgresql_only(request: pytest.FixtureRequest) -> None:
    """Skip the SQLite variant; listed first so no SQLite database is even prepared."""
    if request.node.callspec.params["database_url"] == "sqlite":
        pytest.skip("concurrent writers are a PostgreSQL concern; SQLite has one writer")


class Staff:
    """One logged-in staff member; logging in another one replaces the client's session."""

    def __init__(self, client: TestClient, username: str, body: dict[str, Any]) -> None:
        self.client, self.username = client, username
        self.id: int = body["user"]["id"]
        self.csrf: str = body["csrf_token"]

    async def post(self, path: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kwargs)

    async def create(self, **fields: Any) -> dict[str, Any]:
        body = {"category": "pensions", "subject": "Pension not paid", "customer": CUSTOMER}
        response = await self.post("/api/tickets", json=body | fields)
        assert response.status == 201, await response.text()
        return await response.json()

    async def status(self, reference: str, status: str, **fields: Any) -> Any:
        return await self.post(
            f"/api/tickets/{reference}/status", json={"status": status, **fields}
        )

    async def move(self, reference: str, *statuses: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for status in statuses:
            response = await self.status(reference, status)
            assert response.status == 200, await response.text()
            body = await response.json()
        return body

    async def read(self, reference: str) -> Any:
        return await self.client.get(f"/api/tickets/{reference}")

    async def list(self, **query: Any) -> list[str]:
        response = await self.client.get("/api/tickets", params=query)
        assert response.status == 200, await response.text()
        return [t["reference"] for t in (await response.json())["tickets"]]


async def log_in(client: TestClient, username: str) -> Staff:
    client.session.cookie_jar.clear()
    response = await client.post(
        "/api/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status == 200, await response.text()
    return Staff(client, username, await response.json())


def assert_error(body: Any, code: str, fields: list[str] | None = None) -> None:
    """The one JSON error shape; `fields` are the fields its details must name."""
    assert set(body) == {"error"}, body
    assert set(body["error"]) - {"details"} == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    if fields is not None:
        assert [d["field"] for d in body["error"]["details"]] == fields, body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def database_state(settings: Settings) -> dict[str, Any]:
    """What a refused request must not change: every ticket, event, customer and counter."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            tickets = (
                await conn.execute(
                    select(Ticket.reference, Ticket.status, Ticket.subject).order_by(Ticket.id)
                )
            ).all()
            state = {
                "tickets": [tuple(t) for t in tickets],
                "counters": [
                    tuple(c) for c in (await conn.execute(select(TicketCounter.__table__))).all()
                ],
            }
            for model in (TicketEvent, Customer):
                state[model.__tablename__] = await conn.scalar(
                    select(func.count()).select_from(model)
                )
            return state
    finally:
        await engine.dispose()


def demo_calendar(category: str) -> tuple[BusinessCalendar, int]:
    spec = next(c for c in DEMO_CATEGORIES if c["code"] == category)
    cal = DEMO_CALENDARS[spec["calendar"]]
    calendar = BusinessCalendar(
        name=spec["calendar"],
        timezone=cal["timezone"],
        weekly_hours=weekly_hours_from_mapping(cal["weekly_hours"]),
        holiday_country=cal["holiday_country"],
    )
    return calendar, spec["resolution_working_days"]


# --- creation ---------------------------------------------------------------------------------


async def test_create_with_a_new_customer_then_with_its_id(
    client: TestClient, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    first = await agent.create(note="Called about March", channel="video", language="en")
    assert set(first) == {"ticket", "secret_code"}
    ticket = first["ticket"]
    assert ticket["reference"] == "VB-2026-000001"
    assert ticket["status"] == "new"
    assert ticket["category"] == "pensions"
    assert ticket["channel"] == "video"
    assert ticket["language"] == "en"
    assert ticket["priority"] == "normal"
    assert ticket["customer_name"] == "Ali Hassan"
    assert ticket["assigned_agent"] == "agent.ar"  # an agent owns what it opens
    assert ticket["created_at"] == "2026-11-21T08:00:00Z"
    assert ticket["first_response_at"] is None
    assert ticket["sla_state"] == "on_track"

    second = (await agent.create(customer=None, customer_id=ticket["customer_id"]))["ticket"]
    assert second["reference"] == "VB-2026-000002"
    assert second["customer_id"] == ticket["customer_id"]
    assert second["customer_name"] == "Ali Hassan"
    assert second["channel"] == "phone" and second["language"] == "ar"  # the defaults

    supervisor = await log_in(client, "supervisor")
    third = (await supervisor.create(customer={}))["ticket"]
    assert third["reference"] == "VB-2026-000003"
    assert third["assigned_agent"] is None  # supervisors assign later
    assert third["customer_name"] is None

    state = await database_state(settings)
    assert state["customers"] == 2

    detail = await (await supervisor.read("VB-2026-000001")).json()
    assert [(e["kind"], e["actor"], e["to_status"], e["body"]) for e in detail["history"]] == [
        ("created", "agent.ar", "new", None),
        ("assignment", "agent.ar", None, None),
        ("note", "agent.ar", None, "Called about March"),
    ]


async def test_exactly_one_of_customer_and_customer_id(
    client: TestClient, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    customer_id = (await agent.create())["ticket"]["customer_id"]
    before = await database_state(settings)
    base = {"category": "pensions", "subject": "Pension"}
    for body in (base, {**base, "customer": CUSTOMER, "customer_id": customer_id}):
        response = await agent.post("/api/tickets", json=body)
        assert response.status == 400, body
        assert_error(await response.json(), "invalid_request")
    unknown = await agent.post("/api/tickets", json={**base, "customer_id": customer_id + 99})
    assert unknown.status == 404
    assert_error(await unknown.json(), "not_found")
    assert await database_state(settings) == before

    # Refused requests used up no number: the references stay gap-free.
    assert (await agent.create())["ticket"]["reference"] == "VB-2026-000002"


#: Created Saturday 2026-11-21 08:00 UTC: (category, resolution due, first response due).
DUE_AT_T0 = [
    # Saturday 11:00 in Riyadh: the week starts on Sunday, due Wednesday 16:00 Riyadh.
    ("pensions", "2026-11-25T13:00:00Z", "2026-11-23T13:00:00Z"),
    ("one_time_compensation", "2026-11-25T13:00:00Z", "2026-11-23T13:00:00Z"),
    # Saturday 11:30 in Tehran is a working day: due Tuesday 20:00 Tehran.
    ("insurance_registration", "2026-11-24T16:30:00Z", "2026-11-22T16:30:00Z"),
    # Seven working days, skipping Friday: Sunday 29th 20:00 Tehran.
    ("medical", "2026-11-29T16:30:00Z", "2026-11-22T16:30:00Z"),
]


async def test_due_times_are_counted_on_the_categorys_calendar(
    client: TestClient, clock: Any
) -> None:
    agent = await log_in(client, "agent.ar")
    for category, resolution_due, first_response_due in DUE_AT_T0:
        calendar, working_days = demo_calendar(category)
        ticket = (await agent.create(category=category))["ticket"]
        assert ticket["resolution_due_at"] == resolution_due, category
        assert ticket["first_response_due_at"] == first_response_due, category
        assert when(resolution_due) == working_days_after(calendar, T0, working_days)
        assert when(first_response_due) == working_days_after(calendar, T0, 1)

    # Around closing time on Thursday 26th: before it the day counts, at or after it not;
    # and on Friday (closed in both countries) counting starts on the next working day.
    for category, _, _ in DUE_AT_T0:
        calendar, working_days = demo_calendar(category)
        closing = working_days_after(calendar, datetime(2026, 11, 26, 0, 0, tzinfo=UTC), 0)
        for created in (closing.replace(hour=closing.hour - 1), closing, T0.replace(day=27)):
            clock.now = created.astimezone(UTC)
            agent = await log_in(client, "agent.ar")  # sessions last 12 hours
            ticket = (await agent.create(category=category))["ticket"]
            assert when(ticket["created_at"]) == created
            assert when(ticket["resolution_due_at"]) == working_days_after(
                calendar, created, working_days
            ), (category, created)
            assert when(ticket["first_response_due_at"]) == working_days_after(
                calendar, created, 1
            ), (category, created)


async def test_the_secret_code_is_shown_once(client: TestClient, settings: Settings) -> None:
    agent = await log_in(client, "agent.ar")
    created = await agent.create()
    code, reference = created["secret_code"], created["ticket"]["reference"]
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{10}", code)
    assert code not in str(created["ticket"])

    texts = [
        await (await agent.read(reference)).text(),
        await (await client.get("/api/tickets")).text(),
        await (await agent.status(reference, "open")).text(),
        await (await agent.post(f"/api/tickets/{reference}/notes", json={"body": "hi"})).text(),
    ]
    for text in texts:
        assert code not in text
        assert "secret" not in text

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(Ticket.__table__))).one()
    finally:
        await engine.dispose()
    assert code not in str(tuple(row))  # only its hash is stored

    # Every ticket gets its own code.
    assert (await agent.create())["secret_code"] != code


# --- listing and filters ----------------------------------------------------------------------


async def test_list_filters_by_status_category_and_agent(client: TestClient) -> None:
    agent_en = await log_in(client, "agent.en")
    agent = await log_in(client, "agent.ar")
    pension = (await agent.create(category="pensions"))["ticket"]["reference"]
    medical = (await agent.create(category="medical"))["ticket"]["reference"]
    await agent.move(pension, "open")
    supervisor = await log_in(client, "supervisor")
    insurance = (await supervisor.create(category="insurance_registration"))["ticket"]["reference"]

    # Soonest due first: insurance (24th), pension (25th), medical (29th).
    assert await supervisor.list() == [insurance, pension, medical]
    assert await supervisor.list(status="open") == [pension]
    assert await supervisor.list(status="new") == [insurance, medical]
    assert await supervisor.list(status="closed") == []
    assert await supervisor.list(category="medical") == [medical]
    assert await supervisor.list(category="no_such_category") == []
    assert await supervisor.list(agent=agent.id) == [pension, medical]
    assert await supervisor.list(agent=agent_en.id) == []
    assert await supervisor.list(agent=agent.id, status="new", category="medical") == [medical]
    assert await supervisor.list(limit=1) == [insurance]
    assert await supervisor.list(limit=2, offset=1) == [pension, medical]

    response = await client.get("/api/tickets", params={"category": "medical"})
    (only,) = (await response.json())["tickets"]
    assert only["category"] == "medical" and only["assigned_agent"] == "agent.ar"


async def test_bad_list_filters_are_400(client: TestClient) -> None:
    await log_in(client, "supervisor")
    cases = [
        ({"status": "done"}, "status"),
        ({"sla": "late"}, "sla"),
        ({"agent": "agent.ar"}, "agent"),
        ({"agent": "0"}, "agent"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"colour": "red"}, "colour"),
    ]
    for query, field in cases:
        response = await client.get("/api/tickets", params=query)
        assert response.status == 400, query
        assert_error(await response.json(), "invalid_request", [field])


async def test_sla_filter_and_state_follow_the_clock(client: TestClient, clock: Any) -> None:
    supervisor = await log_in(client, "supervisor")
    # Created Saturday 08:00Z. Due and at-risk instants (20 % of the opening time left):
    pension = (await supervisor.create(category="pensions"))["ticket"]  # 25th 13:00Z, 06:36Z
    medical = (await supervisor.create(category="medical"))["ticket"]  # 29th 16:30Z, 28th 10:48Z
    late = (await supervisor.create(category="insurance_registration"))["ticket"]  # 24th 16:30Z
    early = (await supervisor.create(category="insurance_registration"))["ticket"]
    tight = (await supervisor.create(category="insurance_registration"))["ticket"]
    refs = {
        "pension": pension["reference"],
        "medical": medical["reference"],
        "late": late["reference"],
        "early": early["reference"],
        "tight": tight["reference"],
    }
    assert late["resolution_due_at"] == "2026-11-24T16:30:00Z"
    ON, RISK, LATE = "on_track", "at_risk", "breached"

    async def expect(**states: str) -> None:
        response = await client.get("/api/tickets")
        listed = {t["reference"]: t["sla_state"] for t in (await response.json())["tickets"]}
        assert listed == {refs[name]: state for name, state in states.items()}, clock.now
        for state in ("on_track", "at_risk", "breached"):
            wanted = {refs[name] for name, s in states.items() if s == state}
            assert set(await supervisor.list(sla=state)) == wanted, (clock.now, state)
        for name in states:
            detail = await (await supervisor.read(refs[name])).json()
            assert detail["sla_state"] == states[name], (clock.now, name)

    await expect(pension=ON, medical=ON, late=ON, early=ON, tight=ON)

    async def at(*moment: int, microsecond: int = 0) -> Staff:
        clock.now = datetime(*moment, microsecond=microsecond, tzinfo=UTC)
        # A session lasts 12 hours and these jumps are longer: log in again each time.
        return await log_in(client, "supervisor")

    supervisor = await at(2026, 11, 21, 9, 0)
    await supervisor.move(refs["early"], "open", "resolved")

    supervisor = await at(2026, 11, 24, 7, 35)
    await expect(pension=ON, medical=ON, late=ON, early=ON, tight=ON)
    supervisor = await at(2026, 11, 24, 7, 36)
    await expect(pension=ON, medical=ON, late=RISK, early=ON, tight=RISK)
    # Resolved while at risk: at risk it stays.
    supervisor = await at(2026, 11, 24, 12, 0)
    await supervisor.move(refs["tight"], "open", "resolved")
    supervisor = await at(2026, 11, 24, 16, 30)  # due, not yet past it
    await expect(pension=ON, medical=ON, late=RISK, early=ON, tight=RISK)
    supervisor = await at(2026, 11, 24, 16, 30, microsecond=1)
    await expect(pension=ON, medical=ON, late=LATE, early=ON, tight=RISK)

    supervisor = await at(2026, 11, 25, 6, 36)
    await expect(pension=RISK, medical=ON, late=LATE, early=ON, tight=RISK)
    # Resolved late stays breached; resolved early stays on track, whatever the time.
    supervisor = await at(2026, 11, 25, 7, 0)
    await supervisor.move(refs["late"], "open", "resolved", "closed")
    await supervisor.move(refs["early"], "closed")

    supervisor = await at(2026, 11, 25, 13, 0, 1)
    await expect(pension=LATE, medical=ON, late=LATE, early=ON, tight=RISK)
    supervisor = await at(2026, 11, 28, 10, 48)
    await expect(pension=LATE, medical=RISK, late=LATE, early=ON, tight=RISK)
    supervisor = await at(2026, 12, 1, 8, 0)
    await expect(pension=LATE, medical=LATE, late=LATE, early=ON, tight=RISK)


# --- the status workflow and notes ------------------------------------------------------------


async def test_status_workflow_writes_history_and_timestamps(
    client: TestClient, clock: Any
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]

    clock.advance(hours=1)
    opened = await agent.move(reference, "open")
    assert opened["status"] == "open"
    assert opened["first_response_at"] == "2026-11-21T09:00:00Z"
    assert opened["resolved_at"] is None

    clock.advance(hours=1)
    response = await agent.status(reference, "pending", note="Waiting for the IBAN certificate")
    assert response.status == 200
    clock.advance(hours=1)
    reopened = await agent.move(reference, "open")
    assert reopened["first_response_at"] == "2026-11-21T09:00:00Z"  # only the first time

    clock.advance(hours=1)
    resolved = await agent.move(reference, "resolved")
    assert resolved["resolved_at"] == "2026-11-21T12:00:00Z"
    assert resolved["closed_at"] is None

    clock.advance(hours=1)
    supervisor = await log_in(client, "supervisor")
    closed = await supervisor.move(reference, "closed")
    assert closed["closed_at"] == "2026-11-21T13:00:00Z"
    assert closed["resolved_at"] == "2026-11-21T12:00:00Z"

    changes = [
        (e["from_status"], e["to_status"], e["actor"], e["body"], e["created_at"])
        for e in closed["history"]
        if e["kind"] == "status_change"
    ]
    assert changes == [
        ("new", "open", "agent.ar", None, "2026-11-21T09:00:00Z"),
        ("open", "pending", "agent.ar", "Waiting for the IBAN certificate", "2026-11-21T10:00:00Z"),
        ("pending", "open", "agent.ar", None, "2026-11-21T11:00:00Z"),
        ("open", "resolved", "agent.ar", None, "2026-11-21T12:00:00Z"),
        ("resolved", "closed", "supervisor", None, "2026-11-21T13:00:00Z"),
    ]


async def test_every_transition_is_allowed_or_refused_as_specified(
    client: TestClient, settings: Settings
) -> None:
    supervisor = await log_in(client, "supervisor")
    statuses = list(PATH_TO)
    for current in statuses:
        # One ticket takes every refused change and must come out untouched...
        reference = (await supervisor.create())["ticket"]["reference"]
        await supervisor.move(reference, *PATH_TO[current])
        before = await database_state(settings)
        for target in statuses:
            if (current, target) in ALLOWED:
                continue
            response = await supervisor.status(reference, target, note="should not be kept")
            assert response.status == 409, (current, target)
            assert_error(await response.json(), "transition_not_allowed")
        assert await database_state(settings) == before, current
        detail = await (await supervisor.read(reference)).json()
        assert detail["status"] == current
        assert "should not be kept" not in str(detail["history"])

        # ...and each allowed change works on a ticket of its own.
        for target in statuses:
            if (current, target) not in ALLOWED:
                continue
            reference = (await supervisor.create())["ticket"]["reference"]
            await supervisor.move(reference, *PATH_TO[current])
            after = await supervisor.move(reference, target)
            assert after["status"] == target
            last = after["history"][-1]
            assert (last["kind"], last["from_status"], last["to_status"], last["actor"]) == (
                "status_change",
                current,
                target,
                "supervisor",
            )


async def test_resolving_again_after_reopening_restarts_resolved_at(
    client: TestClient, clock: Any
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]
    await agent.move(reference, "open", "resolved")
    clock.advance(hours=2)
    reopened = await agent.move(reference, "open")
    assert reopened["resolved_at"] is None
    clock.advance(hours=1)
    again = await agent.move(reference, "resolved")
    assert again["resolved_at"] == "2026-11-21T11:00:00Z"


async def test_notes_append_to_the_history(
    client: TestClient, clock: Any, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]

    clock.advance(minutes=5)
    response = await agent.post(
        f"/api/tickets/{reference}/notes", json={"body": "  Customer sent the IBAN  "}
    )
    assert response.status == 201
    first = (await response.json())["history"]

    supervisor = await log_in(client, "supervisor")
    clock.advance(minutes=5)
    response = await supervisor.post(
        f"/api/tickets/{reference}/notes", json={"body": "ملاحظة بالعربية"}
    )
    second = (await response.json())["history"]
    assert second[: len(first)] == first  # earlier lines are untouched
    notes = [(e["actor"], e["body"], e["created_at"]) for e in second if e["kind"] == "note"]
    assert notes == [
        ("agent.ar", "Customer sent the IBAN", "2026-11-21T08:05:00Z"),
        ("supervisor", "ملاحظة بالعربية", "2026-11-21T08:10:00Z"),
    ]
    assert (await supervisor.read(reference)).status == 200
    assert (await database_state(settings))["ticket_events"] == len(second)


# --- validation -------------------------------------------------------------------------------


async def test_bad_requests_are_refused_and_change_nothing(
    client: TestClient, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create())["ticket"]["reference"]
    good = {"category": "pensions", "subject": "Pension", "customer": CUSTOMER}
    json_header = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, Any], int, str, list[str] | None]] = [
        ("/api/tickets", {"json": {**good, "colour": "red"}}, 400, "invalid_request", ["colour"]),
        (
            "/api/tickets",
            {"json": {**good, "customer": {"display_name": "A", "email": "a@b.c"}}},
            400,
            "invalid_request",
            ["customer.email"],
        ),
        (
            "/api/tickets",
            {"json": {**good, "subject": "x" * 201}},
            400,
            "invalid_request",
            ["subject"],
        ),
        ("/api/tickets", {"json": {**good, "subject": "   "}}, 400, "invalid_request", ["subject"]),
        ("/api/tickets", {"json": {**good, "channel": "fax"}}, 400, "invalid_request", ["channel"]),
        (
            "/api/tickets",
            {"json": {**good, "customer": {"phone": "call me"}}},
            400,
            "invalid_request",
            ["customer.phone"],
        ),
        ("/api/tickets", {"json": {"subject": "Pension"}}, 400, "invalid_request", ["category"]),
        ("/api/tickets", {"json": [good]}, 400, "invalid_request", None),
        (
            "/api/tickets",
            {"data": '{"category": ', "headers": json_header},
            400,
            "malformed_json",
            None,
        ),
        (
            "/api/tickets",
            {"data": b"\xff\xfe", "headers": json_header},
            400,
            "malformed_json",
            None,
        ),
        ("/api/tickets", {"data": {"category": "pensions"}}, 415, "unsupported_media_type", None),
        (
            "/api/tickets",
            {"data": '{"category": "pensions"}', "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
            None,
        ),
        ("/api/tickets", {"json": {**good, "category": "no_such_service"}}, 404, "not_found", None),
        (
            "/api/tickets",
            {
                "data": io.BytesIO(b'{"note": "' + b"x" * 1024 * 1024 + b'"}'),
                "headers": json_header,
            },
            413,
            "http_error",
            None,
        ),
        (
            f"/api/tickets/{reference}/status",
            {"json": {"status": "done"}},
            400,
            "invalid_request",
            ["status"],
        ),
        (f"/api/tickets/{reference}/status", {"json": {}}, 400, "invalid_request", ["status"]),
        (
            f"/api/tickets/{reference}/status",
            {"json": {"status": "open", "by": "me"}},
            400,
            "invalid_request",
            ["by"],
        ),
        (
            f"/api/tickets/{reference}/status",
            {"data": "status=open"},
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "/api/tickets/VB-2026-999999/status",
            {"json": {"status": "open"}},
            404,
            "not_found",
            None,
        ),
        (
            f"/api/tickets/{reference}/notes",
            {"json": {"body": ""}},
            400,
            "invalid_request",
            ["body"],
        ),
        (
            f"/api/tickets/{reference}/notes",
            {"json": {"text": "hi"}},
            400,
            "invalid_request",
            ["body", "text"],
        ),
        ("/api/tickets/VB-2026-999999/notes", {"json": {"body": "hi"}}, 404, "not_found", None),
    ]
    before = await database_state(settings)
    for path, kwargs, status, code, fields in cases:
        response = await agent.post(path, **kwargs)
        assert response.status == status, (path, kwargs.keys(), await response.text())
        assert_error(await response.json(), code, fields)
        assert await database_state(settings) == before, (path, code)

    # The limits themselves are allowed.
    ticket = (await agent.create(subject="x" * 200))["ticket"]
    assert ticket["subject"] == "x" * 200


# --- who sees what ----------------------------------------------------------------------------


async def test_agents_see_only_the_tickets_of_customers_they_served(
    client: TestClient, settings: Settings
) -> None:
    agent_ar = await log_in(client, "agent.ar")
    reference = (await agent_ar.create())["ticket"]["reference"]
    assert (await agent_ar.read(reference)).status == 200
    assert await agent_ar.list() == [reference]

    supervisor = await log_in(client, "supervisor")
    unassigned = (await supervisor.create())["ticket"]["reference"]
    assert (await supervisor.read(reference)).status == 200
    assert await supervisor.list() == [reference, unassigned]

    agent_en = await log_in(client, "agent.en")
    hidden = await agent_en.read(reference)
    missing = await agent_en.read("VB-2026-999999")
    assert hidden.status == missing.status == 404
    # Indistinguishable from a ticket that does not exist.
    assert await hidden.json() == {
        "error": {"code": "not_found", "message": f"no ticket {reference}"}
    }
    assert await missing.json() == {
        "error": {"code": "not_found", "message": "no ticket VB-2026-999999"}
    }
    assert await agent_en.list() == []
    assert await agent_en.list(status="new", category="pensions") == []

    before = await database_state(settings)
    assert (await agent_en.status(reference, "open")).status == 404
    note = await agent_en.post(f"/api/tickets/{reference}/notes", json={"body": "peek"})
    assert note.status == 404
    assert await database_state(settings) == before

    agent_ar = await log_in(client, "agent.ar")
    assert await agent_ar.list() == [reference]  # not the supervisor's unassigned ticket
    assert (await agent_ar.read(unassigned)).status == 404
    assert (await agent_ar.read(reference)).status == 200


async def test_an_agent_cannot_open_a_ticket_for_a_customer_never_served(
    client: TestClient, settings: Settings
) -> None:
    agent_ar = await log_in(client, "agent.ar")
    customer_id = (await agent_ar.create())["ticket"]["customer_id"]

    agent_en = await log_in(client, "agent.en")
    before = await database_state(settings)
    # Opening a ticket would make the customer "served" and reveal their whole history.
    response = await agent_en.post(
        "/api/tickets",
        json={"category": "pensions", "subject": "Peek", "customer_id": customer_id},
    )
    assert response.status == 404
    assert await database_state(settings) == before

    supervisor = await log_in(client, "supervisor")
    ticket = (await supervisor.create(customer=None, customer_id=customer_id))["ticket"]
    assert ticket["customer_id"] == customer_id


# --- the history in the database --------------------------------------------------------------


async def test_history_is_append_only_in_the_database(
    client: TestClient, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    reference = (await agent.create(note="original"))["ticket"]["reference"]
    await agent.move(reference, "open")

    engine = create_engine(settings.database_url)
    try:

        async def history() -> list[tuple[Any, ...]]:
            async with engine.connect() as conn:
                rows = await conn.execute(select(TicketEvent.__table__).order_by(TicketEvent.id))
                return [tuple(row) for row in rows]

        before = await history()
        assert len(before) == 4
        statements = [
            update(TicketEvent).values(body="rewritten"),
            update(TicketEvent).where(TicketEvent.kind == "note").values(body="rewritten"),
            delete(TicketEvent),
            delete(TicketEvent).where(TicketEvent.id == before[-1][0]),
        ]
        for statement in statements:
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(statement)

        # Through the ORM as well.
        with pytest.raises(DBAPIError, match="append-only"):
            async with session_factory(engine)() as db, db.begin():
                event = await db.scalar(select(TicketEvent).where(TicketEvent.kind == "note"))
                assert event is not None
                event.body = "rewritten"
        with pytest.raises(DBAPIError, match="append-only"):
            async with session_factory(engine)() as db, db.begin():
                event = await db.scalar(select(TicketEvent).where(TicketEvent.kind == "note"))
                await db.delete(event)

        assert await history() == before
    finally:
        await engine.dispose()

    # Appending still works.
    response = await agent.post(f"/api/tickets/{reference}/notes", json={"body": "appended"})
    assert response.status == 201


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_creations_get_distinct_gap_free_references(
    postgresql_only: None, client: TestClient, settings: Settings
) -> None:
    agent = await log_in(client, "agent.ar")
    responses = await asyncio.gather(
        *(
            agent.post(
                "/api/tickets",
                json={"category": "pensions", "subject": f"Request {n}", "customer": CUSTOMER},
            )
            for n in range(20)
        )
    )
    assert [r.status for r in responses] == [201] * 20
    references = sorted([(await r.json())["ticket"]["reference"] for r in responses])
    assert references == [f"VB-2026-{n:06d}" for n in range(1, 21)]
    state = await database_state(settings)
    assert sorted(t[0] for t in state["tickets"]) == references
