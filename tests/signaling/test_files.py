"""Files during a call: checked by content, stored, attached to the ticket, announced to the agent;
and the customer's rating of the call."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest
from sqlalchemy import select

from vbranch_server.app import create_app
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import Attachment, CallRecord, TicketEvent, TicketEventKind

from .conftest import ROUTING, Peer, staff_cookie, visit_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LIMIT = 4096


@pytest.fixture
async def small_limit_server(aiohttp_server, settings, clock, demo_data):  # type: ignore[no-untyped-def]
    limited = dataclasses.replace(settings, upload_max_bytes=LIMIT)
    return await aiohttp_server(create_app(limited, clock=clock, routing=ROUTING))


async def _call(server):  # type: ignore[no-untyped-def]
    url = str(server.make_url("/"))
    agent = Peer("/agent")
    await agent.connect(
        url, headers={"Cookie": f"vb_session={await staff_cookie(server, 'agent.ar')}"}
    )
    visit = await visit_token(server)
    customer = Peer("/customer")
    await customer.connect(url, auth={"token": visit["token"]})
    await agent.call("set_availability", {"state": "available"})
    await customer.call("join", {"category": "pensions", "language": "ar"})
    offer = await agent.next("offer")
    answer = await agent.call("accept", {"offer_id": offer["offer_id"]})
    await customer.next("connected")
    return agent, customer, visit["token"], answer


async def _upload(server, call_id: str, token: str | None, data: bytes, name: str = "id.pdf"):  # type: ignore[no-untyped-def]
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.make_url(f"/api/calls/{call_id}/files"), data=form, headers=headers
        ) as r:
            return r.status, await r.json()


async def test_upload_reaches_the_agent_and_the_ticket(small_limit_server, settings) -> None:  # type: ignore[no-untyped-def]
    server = small_limit_server
    agent, customer, token, answer = await _call(server)
    call_id = answer["call_id"]
    try:
        status, body = await _upload(server, call_id, token, PDF, name="passport.pdf")
        assert status == 201, body
        assert (body["content_type"], body["name"], body["size"]) == (
            "application/pdf",
            "passport.pdf",
            len(PDF),
        )
        shared = await agent.next("file_shared")
        assert shared["attachment_id"] == body["attachment_id"] and shared["call_id"] == call_id

        # The agent opens it with their staff session.
        cookie = await staff_cookie(server, "agent.ar")
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
            async with http.get(server.make_url(f"/api/attachments/{body['attachment_id']}")) as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == "application/pdf"
                assert "sandbox" in r.headers["Content-Security-Policy"]
                assert await r.read() == PDF
        # An agent who never served this customer cannot.
        other = await staff_cookie(server, "agent.en")
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: other}) as http:
            async with http.get(server.make_url(f"/api/attachments/{body['attachment_id']}")) as r:
                assert r.status == 404

        # Refused: a text file named .pdf, an oversized file, no token, someone else's token.
        assert (await _upload(server, call_id, token, b"hello, not a pdf"))[0] == 415
        assert (await _upload(server, call_id, token, PNG + b"\x00" * LIMIT))[0] == 413
        assert (await _upload(server, call_id, None, PDF))[0] == 401
        stranger = (await visit_token(server))["token"]
        assert (await _upload(server, call_id, stranger, PDF))[0] == 404
        assert (await _upload(server, call_id, token, PNG, name="photo"))[0] == 201
        assert (await agent.next("file_shared"))["name"] == "photo.png"
        for path in ("../../etc/passwd.pdf", "C:\\fakepath\\id.pdf", "docs/id.pdf"):
            status, body = await _upload(server, call_id, token, PDF, name=path)
            assert (status, body.get("error", {}).get("code")) == (400, "invalid_file_name"), (
                path,
                body,
            )
        # Once the call has ended, its upload is closed.
        assert (await customer.call("hang_up", {"call_id": call_id}))["ok"]
        status, body = await _upload(server, call_id, token, PDF)
        assert (status, body["error"]["code"]) == (409, "wrong_state")

        engine = create_engine(settings.database_url)
        async with session_factory(engine)() as db:
            stored = (await db.scalars(select(Attachment))).all()
            events = (
                await db.scalars(
                    select(TicketEvent).where(TicketEvent.kind == TicketEventKind.ATTACHMENT)
                )
            ).all()
        await engine.dispose()
        assert [a.content_type for a in stored] == ["application/pdf", "image/png"]
        assert len(events) == 2
        # Refused uploads left nothing behind; accepted ones are stored under random names.
        on_disk = sorted(p.name for p in settings.uploads_dir.iterdir())
        assert on_disk == sorted(a.storage_name for a in stored)
        assert all(len(name) == 32 for name in on_disk)
    finally:
        await agent.close()
        await customer.close()


async def test_rating_after_the_call(server, settings) -> None:  # type: ignore[no-untyped-def]
    agent, customer, token, answer = await _call(server)
    call_id = answer["call_id"]

    async def rate(body, bearer=token):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession() as http:
            async with http.post(
                server.make_url(f"/api/calls/{call_id}/rating"),
                json=body,
                headers={"Authorization": f"Bearer {bearer}"},
            ) as r:
                return r.status

    try:
        assert await rate({"rating": 5}) == 409  # not yet ended
        await customer.call("media_connected", {"call_id": call_id})
        await customer.call("hang_up", {"call_id": call_id})
        await customer.next("call_ended")
        assert (await _upload(server, call_id, token, PDF))[0] == 409  # the call is over
        assert await rate({"rating": 6}) == 400
        assert (
            await rate(
                {"rating": 4, "comment": "Clear and kind"},
                bearer=(await visit_token(server))["token"],
            )
            == 404
        )
        assert await rate({"rating": 4, "comment": "Clear and kind"}) == 201
        assert await rate({"rating": 1}) == 409  # once only
        engine = create_engine(settings.database_url)
        async with session_factory(engine)() as db:
            record = await db.scalar(select(CallRecord).where(CallRecord.call_id == call_id))
        await engine.dispose()
        assert (record.rating, record.rating_comment) == (4, "Clear and kind")
    finally:
        await agent.close()
        await customer.close()
