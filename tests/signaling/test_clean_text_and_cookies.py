"""Over real sockets: a customer's name and chat reach the agent without bidi or zero-width
characters, and with secure cookies on the sockets know staff only by the `__Host-` cookie."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest
import socketio

from vbranch_server.app import create_app

from .conftest import PASSWORDS, PENSIONS_AR, ROUTING, Peer
from .test_files import PNG, _call, _upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RLO, LRI, PDI, ZWSP, BOM = "\u202e", "\u2066", "\u2069", "\u200b", "\ufeff"


async def test_names_and_chat_arrive_cleaned(start_call) -> None:  # type: ignore[no-untyped-def]
    call = await start_call(join={**PENSIONS_AR, "display_name": f" Sara{RLO}{ZWSP}h\u0007 "})
    assert call.answer["customer"]["display_name"] == "Sarah"

    text = f"see {LRI}report{RLO}gnp.exe{PDI}\x1b[31m\r\nline two\tend{BOM}"
    ack = await call.customer.call("chat", {"call_id": call.call_id, "text": text})
    assert ack["ok"] is True
    assert (await call.agent.next("chat"))["text"] == "see reportgnp.exe[31m\nline two\tend"

    # A message made only of invisible characters is empty, so refused like an empty one.
    ack = await call.customer.call("chat", {"call_id": call.call_id, "text": f"{RLO}{ZWSP} "})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert call.agent.pending("chat") == 0


async def test_sockets_know_staff_by_the_host_cookie_when_secure(  # type: ignore[no-untyped-def]
    aiohttp_server, settings, clock, demo_data
) -> None:
    secure = dataclasses.replace(settings, secure_cookies=True)
    server = await aiohttp_server(create_app(secure, clock=clock, routing=ROUTING))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.post(
            server.make_url("/api/login"),
            json={"username": "agent.ar", "password": PASSWORDS["agent.ar"]},
        ) as response:
            assert response.status == 200
            token = response.cookies["__Host-vb_session"].value
    url = str(server.make_url("/"))

    bare = Peer("/agent")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await bare.connect(url, headers={"Cookie": f"vb_session={token}"})
    await bare.close()

    agent = Peer("/agent")
    await agent.connect(url, headers={"Cookie": f"__Host-vb_session={token}"})
    try:
        assert (await agent.call("set_availability", {"state": "available"}))["ok"] is True
    finally:
        await agent.close()


async def test_an_uploaded_file_name_loses_its_bidi_trick(server, settings) -> None:  # type: ignore[no-untyped-def]
    agent, customer, token, answer = await _call(server)
    try:
        name = f"report{RLO}gnp.exe.png"
        status, body = await _upload(server, answer["call_id"], token, PNG, name=name)
        assert status == 201, body
        assert body["name"] == "reportgnp.exe.png"
        assert (await agent.next("file_shared"))["name"] == "reportgnp.exe.png"
        # Stored for the server's own user only (a customer's document), whatever the umask.
        stored = [p for p in settings.uploads_dir.iterdir() if p.is_file()]
        assert len(stored) == 1 and stored[0].stat().st_mode & 0o777 == 0o600
    finally:
        await agent.close()
        await customer.close()
