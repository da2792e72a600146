"""The supervisor dashboard's HTTP side: reports against known call records, the SLA board,
chart data from queue samples, and who may read them."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from vbranch_queue.core.model import Needs
from vbranch_server.app import create_app
from vbranch_server.crm import tickets as crm
from vbranch_server.db.models import CallRecord, QueueSample, StaffUser, TicketChannel, TicketStatus
from vbranch_server.keys import DB
from vbranch_server.realtime.wiring import HUB
from vbranch_server.supervision.reports import to_csv
from vbranch_server.supervision.samples import day_end, day_start, store_samples

from .test_tickets_api import log_in

ENDPOINTS = (
    "/api/supervisor/sla-board",
    "/api/supervisor/audit",
    "/api/supervisor/charts",
    "/api/supervisor/reports/queues.csv",
    "/api/supervisor/reports/agents.csv",
)


async def test_only_supervisors_and_admins_read_the_dashboard(client: TestClient) -> None:
    for path in ENDPOINTS:
        assert (await client.get(path)).status == 401, path
    await log_in(client, "agent.ar")
    for path in (*ENDPOINTS, "/supervisor"):
        assert (await client.get(path, allow_redirects=False)).status == 403, path
    for username in ("supervisor", "admin"):
        await log_in(client, username)
        for path in (*ENDPOINTS, "/supervisor"):
            assert (await client.get(path)).status == 200, (username, path)


async def test_a_bad_audit_limit_is_refused_clearly(client: TestClient) -> None:
    await log_in(client, "supervisor")
    for params in ({"limit": "0"}, {"limit": "201"}, {"limit": "many"}, {"limt": "5"}):
        response = await client.get("/api/supervisor/audit", params=params)
        assert response.status == 400, params
        assert (await response.json())["error"]["code"] == "invalid_request"


async def _staff(client: TestClient, username: str) -> StaffUser:
    async with client.server.app[DB]() as db:
        user = await db.scalar(select(StaffUser).where(StaffUser.username == username))
    assert user is not None
    return user


async def _add_calls(client: TestClient, clock, calls: list[dict]) -> None:  # type: ignore[no-untyped-def]
    async with client.server.app[DB]() as db, db.begin():
        agent = await db.scalar(select(StaffUser).where(StaffUser.username == "agent.ar"))
        created = await crm.create_ticket(
            db,
            crm.NewTicket(category_code="pensions", subject="Visit", channel=TicketChannel.VIDEO),
            clock(),
            agent,
        )
        for n, call in enumerate(calls):
            accepted = call.pop("accepted_at", clock())
            db.add(
                CallRecord(
                    call_id=f"c{n}",
                    ticket_id=created.ticket.id,
                    visit_id=f"v{n}",
                    enqueued_at=accepted - timedelta(seconds=call["wait_seconds"]),
                    accepted_at=accepted,
                    **call,
                )
            )


def _read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def test_the_days_reports_match_the_call_records(client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    ahmad = (await _staff(client, "agent.ar")).id
    jane = (await _staff(client, "agent.en")).id
    pensions, sign = "pensions|ar|-", "pensions|en|sl"
    await _add_calls(
        client,
        clock,
        [
            # pensions in Arabic: 20 s is in time, 21 s is not (80 % in 20 s).
            dict(
                queue=pensions,
                agent_id=ahmad,
                wait_seconds=10,
                talk_seconds=100,
                end_reason="completed",
            ),
            dict(
                queue=pensions,
                agent_id=ahmad,
                wait_seconds=20,
                talk_seconds=200,
                end_reason="transferred",
            ),
            dict(
                queue=pensions, agent_id=jane, wait_seconds=21, talk_seconds=None, end_reason=None
            ),
            # sign language: 30 s is in time (85 % in 30 s).
            dict(
                queue=sign, agent_id=jane, wait_seconds=30, talk_seconds=60, end_reason="completed"
            ),
            # Yesterday's call is not today's.
            dict(
                queue=pensions,
                agent_id=ahmad,
                wait_seconds=5,
                talk_seconds=50,
                end_reason="completed",
                accepted_at=clock() - timedelta(days=1),
            ),
        ],
    )
    # One customer gave up in the Arabic pensions line today.
    routing = client.server.app[HUB].routing
    now = clock().timestamp()
    await routing.join("gone", Needs("pensions", "ar"), 0, now)
    await routing.leave("gone", now + 3)

    await log_in(client, "supervisor")
    response = await client.get("/api/supervisor/reports/queues.csv", params={"lang": "en"})
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="vbranch-queues-2026-11-21.csv"'
    )
    rows = _read_csv(await response.text())
    assert rows == [
        {
            "Service": "pensions",
            "Language": "ar",
            "Sign language": "no",
            "Answered": "3",
            "Answered within target": "2",
            "Target (seconds)": "20.00",
            "Service level": "0.50",  # 2 in time of 3 answered + 1 abandoned
            "Average speed of answer (seconds)": "17.00",
            "Abandoned": "1",
            "Abandonment rate": "0.25",
            "Average talk time (seconds)": "150.00",
        },
        {
            "Service": "pensions",
            "Language": "en",
            "Sign language": "yes",
            "Answered": "1",
            "Answered within target": "1",
            "Target (seconds)": "30.00",
            "Service level": "1.00",
            "Average speed of answer (seconds)": "30.00",
            "Abandoned": "0",
            "Abandonment rate": "0.00",
            "Average talk time (seconds)": "60.00",
        },
    ]

    response = await client.get("/api/supervisor/reports/agents.csv", params={"lang": "ar"})
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="vbranch-agents-2026-11-21.csv"'
    )
    rows = _read_csv(await response.text())
    assert [list(r.values()) for r in rows] == [
        ["Ahmad (Arabic, English)", "2", "1", "1", "15.00", "150.00", "300.00"],
        [(await _staff(client, "agent.en")).display_name, "2", "1", "0", "25.50", "60.00", "60.00"],
    ]
    assert next(iter(rows[0])) == "الموظف"  # the headings in the reader's language


async def test_the_sla_board_lists_open_tickets_at_risk_or_breached_by_due_time(  # type: ignore[no-untyped-def]
    client: TestClient, clock
) -> None:
    supervisor = await log_in(client, "supervisor")
    first = (await supervisor.create(category="pensions"))["ticket"]["reference"]
    clock.advance(hours=3)
    second = (await supervisor.create(category="pensions"))["ticket"]["reference"]
    done = (await supervisor.create(category="pensions"))["ticket"]["reference"]
    assert (await client.get("/api/supervisor/sla-board")).status == 200
    assert (await (await client.get("/api/supervisor/sla-board")).json())["tickets"] == []

    async with client.server.app[DB]() as db, db.begin():
        tickets = {t.reference: t for t in (await db.scalars(select(crm.Ticket))).all()}
        closed = tickets[done]
        await crm.change_status(db, closed, TicketStatus.OPEN, clock(), None)
        await crm.change_status(db, closed, TicketStatus.RESOLVED, clock(), None)
    # Past the first ticket's due time: it is breached; the second is at risk or breached too.
    clock.now = tickets[second].resolution_at_risk_at + timedelta(seconds=1)
    await log_in(client, "supervisor")  # days later: a fresh session
    board = (await (await client.get("/api/supervisor/sla-board")).json())["tickets"]
    assert [t["reference"] for t in board] == [first, second]
    states = [t["sla_state"] for t in board]
    assert states[1] == "at_risk"
    assert states[0] in {"at_risk", "breached"}
    assert board[0]["category"]["code"] == "pensions"
    assert board[0]["agent"] is None
    clock.now = tickets[second].resolution_due_at + timedelta(seconds=1)
    await log_in(client, "supervisor")
    board = (await (await client.get("/api/supervisor/sla-board")).json())["tickets"]
    assert [(t["reference"], t["sla_state"]) for t in board] == [
        (first, "breached"),
        (second, "breached"),
    ]


async def test_charts_come_from_the_minute_samples(client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = clock.now.replace(hour=10, minute=30)
    start = clock.now.replace(hour=0, minute=0)
    q = "pensions|ar|-"

    def sample(at, waiting, answered, in_time, abandoned):  # type: ignore[no-untyped-def]
        return (
            at,
            [
                {
                    "queue": q,
                    "waiting": waiting,
                    "answered": answered,
                    "answered_in_time": in_time,
                    "abandoned": abandoned,
                }
            ],
        )

    async with client.server.app[DB]() as db, db.begin():
        for at, queues in [
            sample(start - timedelta(minutes=1), 9, 50, 50, 9),  # yesterday: not today's
            sample(start + timedelta(hours=8, minutes=5), 1, 2, 2, 0),
            sample(start + timedelta(hours=8, minutes=59), 2, 4, 3, 1),
            sample(start + timedelta(hours=10, minutes=0), 3, 4, 3, 1),
            sample(start + timedelta(hours=10, minutes=29), 2, 7, 5, 2),
            sample(start + timedelta(hours=10, minutes=29), 99, 99, 99, 99),  # a second writer
        ]:
            await store_samples(db, at, queues)
    await log_in(client, "supervisor")
    data = await (await client.get("/api/supervisor/charts")).json()
    hours = data["hours"]
    assert len(hours) == 11  # 00:00 to the current hour, 10:00
    assert hours[8] == {
        "hour": "2026-11-21T08:00:00+00:00",
        "answered": 4,
        "abandoned": 1,
        "service_level": 3 / 5,
    }
    assert hours[9]["answered"] == 0 and hours[9]["service_level"] is None
    assert hours[10] == {
        "hour": "2026-11-21T10:00:00+00:00",
        "answered": 3,
        "abandoned": 1,
        "service_level": 2 / 4,
    }
    assert data["waiting"]["minutes"] == [
        "2026-11-21T10:00:00+00:00",
        "2026-11-21T10:29:00+00:00",
    ]
    assert data["waiting"]["series"] == [{"queue": q, "waiting": [3, 2]}]


async def test_the_hub_samples_each_minute_once(client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    hub = client.server.app[HUB]
    await hub.routing.join("w1", Needs("medical", "en"), 0, clock().timestamp())
    clock.advance(minutes=1)  # the timers may have sampled the minute before anyone waited
    await hub._push_states()
    await hub._push_states()  # the same minute: stored once
    clock.advance(minutes=1)
    await hub._push_states()
    async with client.server.app[DB]() as db:
        rows = (await db.scalars(select(QueueSample).order_by(QueueSample.taken_at))).all()
    assert [(r.taken_at, r.queue, r.waiting) for r in rows] == [
        (clock.now - timedelta(minutes=1), "medical|en|-", 1),
        (clock.now, "medical|en|-", 1),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_dashboard_page_carries_its_texts_in_the_pages_language(
    client: TestClient,
) -> None:
    await log_in(client, "supervisor")
    arabic = await (await client.get("/supervisor", params={"lang": "ar"})).text()
    assert 'dir="rtl"' in arabic and "لوحة اتفاقية مستوى الخدمة" in arabic
    english = await (await client.get("/supervisor", params={"lang": "en"})).text()
    assert "SLA board" in english and "/static/vendor/chart.js/chart.umd.min.js" in english


def test_a_name_in_a_report_never_runs_as_a_spreadsheet_formula() -> None:
    names = ['=HYPERLINK("http://evil")', "@SUM(A1)", "+1", "-2", "\tx", "\rx", "Huda", "=1"]
    text = to_csv(["name", "calls"], {"name": "Name"}, [{"name": n, "calls": 3} for n in names])
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["Name", "calls"]
    assert [row[0] for row in rows[1:]] == ["'" + n for n in names[:6]] + ["Huda", "'=1"]
    assert {row[1] for row in rows[1:]} == {"3"}


async def test_today_starts_at_midnight_in_the_contact_centers_zone(  # type: ignore[no-untyped-def]
    aiohttp_client, settings, clock, demo_data
) -> None:
    """VBRANCH_TIMEZONE=Asia/Riyadh (UTC+3): at 01:30 in Riyadh "today" began at 21:00 UTC, for
    the hourly chart, the day's reports (and their file names) and the queue's day counters."""
    client = await aiohttp_client(
        create_app(replace(settings, timezone="Asia/Riyadh"), clock=clock)
    )
    clock.now = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    midnight = datetime(2026, 11, 21, 21, 0, tzinfo=UTC)
    q = "pensions|ar|-"
    async with client.server.app[DB]() as db, db.begin():
        for at, answered in [
            (midnight - timedelta(minutes=10), 50),  # 23:50 yesterday in Riyadh
            (midnight + timedelta(minutes=10), 1),
            (midnight + timedelta(minutes=80), 3),
        ]:
            row = {"queue": q, "waiting": 0, "answered": answered, "answered_in_time": answered}
            await store_samples(db, at, [{**row, "abandoned": 0}])
    ahmad = (await _staff(client, "agent.ar")).id
    call = dict(queue=q, agent_id=ahmad, wait_seconds=5, talk_seconds=60, end_reason="completed")
    await _add_calls(
        client,
        clock,
        [
            {**call, "accepted_at": midnight + timedelta(minutes=30)},
            {**call, "accepted_at": midnight - timedelta(minutes=30)},  # yesterday in Riyadh
        ],
    )
    await log_in(client, "supervisor")

    hours = (await (await client.get("/api/supervisor/charts")).json())["hours"]
    assert [(h["hour"], h["answered"]) for h in hours] == [
        ("2026-11-21T21:00:00+00:00", 1),
        ("2026-11-21T22:00:00+00:00", 2),
    ]
    response = await client.get("/api/supervisor/reports/queues.csv", params={"lang": "en"})
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="vbranch-queues-2026-11-22.csv"'
    )
    [row] = _read_csv(await response.text())
    assert row["Answered"] == "1"
    page = await (await client.get("/supervisor", params={"lang": "en"})).text()
    assert "Today runs from midnight in Asia/Riyadh" in page


def test_a_day_in_the_contact_centers_zone_may_last_23_or_25_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    autumn = datetime(2026, 10, 25, 21, 15, tzinfo=UTC)  # 22:15 in Berlin, the day clocks go back
    assert day_start(autumn, berlin) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert day_end(autumn, berlin) - day_start(autumn, berlin) == timedelta(hours=25)
    spring = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    assert day_end(spring, berlin) - day_start(spring, berlin) == timedelta(hours=23)
    riyadh = datetime(2026, 11, 21, 21, 0, tzinfo=UTC)  # midnight in Riyadh: a new day begins
    assert day_start(riyadh, ZoneInfo("Asia/Riyadh")) == riyadh
