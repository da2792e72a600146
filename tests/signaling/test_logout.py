"""Logging out closes the sockets opened with that login session, and only those."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from vbranch_server.auth.sessions import SESSION_COOKIE

from .aiortc_peer import eventually
from .conftest import PASSWORDS, Peer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _log_in(server, username: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.make_url("/api/login"),
            json={"username": username, "password": PASSWORDS[username]},
        ) as response:
            assert response.status == 200, await response.text()
            return response.cookies[SESSION_COOKIE].value, (await response.json())["csrf_token"]


async def _log_out(server, cookie: str, csrf: str) -> None:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.post(
            server.make_url("/api/logout"), headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status in (200, 204), await response.text()


async def _connect(server, namespace: str, cookie: str) -> Peer:  # type: ignore[no-untyped-def]
    peer = Peer(namespace)
    await peer.connect(str(server.make_url("/")), headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    return peer


async def test_logging_out_closes_that_sessions_sockets(server) -> None:  # type: ignore[no-untyped-def]
    # The same agent logged in twice (two browsers), and a supervisor.
    first, first_csrf = await _log_in(server, "agent.ar")
    second, _ = await _log_in(server, "agent.ar")
    boss, boss_csrf = await _log_in(server, "supervisor")
    console = await _connect(server, "/agent", first)
    other_console = await _connect(server, "/agent", second)
    dashboard = await _connect(server, "/supervisor", boss)
    try:
        await _log_out(server, first, first_csrf)
        await eventually(lambda: not console.sio.connected, within=10)
        # The other browser's session is untouched and still works.
        assert other_console.sio.connected
        assert (await other_console.call("set_availability", {"state": "available"}))["ok"]
        # The ended session cannot come back.
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _connect(server, "/agent", first)

        assert dashboard.sio.connected
        await _log_out(server, boss, boss_csrf)
        await eventually(lambda: not dashboard.sio.connected, within=10)
        assert other_console.sio.connected
    finally:
        for peer in (console, other_console, dashboard):
            if peer.sio.connected:
                await peer.close()
