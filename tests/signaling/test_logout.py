"""Logging out closes the sockets opened with that login session, and only those."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio

from vbranch_queue.core.model import Skills
from vbranch_queue.memory import MemoryRoutingStore
from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.keys import SETTINGS
from vbranch_signaling.hub import CallHub
from vbranch_signaling.namespaces import AgentNamespace, StaffIdentity

from .aiortc_peer import eventually
from .conftest import PASSWORDS, ROUTING, Peer
from .test_hub_failures import FailingCrm, Recorder


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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_session_that_runs_out_closes_its_sockets(server, clock) -> None:  # type: ignore[no-untyped-def]
    """Nobody logs out: the login session simply ends (after VBRANCH_SESSION_TTL). Its sockets
    close then, as at a logout; a session opened later keeps its own."""
    ttl = server.app[SETTINGS].session_ttl_seconds
    early, _ = await _log_in(server, "agent.ar")
    boss, _ = await _log_in(server, "supervisor")
    clock.advance(hours=1)
    later, _ = await _log_in(server, "agent.ar")
    console = await _connect(server, "/agent", early)
    dashboard = await _connect(server, "/supervisor", boss)
    other_console = await _connect(server, "/agent", later)
    try:
        clock.advance(seconds=ttl - 3600 - 1)  # a second before the first two end: nothing yet
        await asyncio.sleep(1.5)  # three turns of the timer
        assert console.sio.connected and dashboard.sio.connected
        clock.advance(seconds=1)
        await eventually(lambda: not console.sio.connected, within=10)
        await eventually(lambda: not dashboard.sio.connected, within=10)
        assert other_console.sio.connected
        assert (await other_console.call("set_availability", {"state": "available"}))["ok"]
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _connect(server, "/agent", early)
    finally:
        for peer in (console, other_console, dashboard):
            if peer.sio.connected:
                await peer.close()


async def test_a_logout_during_a_connect_leaves_no_socket_behind() -> None:
    """The session is checked again once the socket is registered under it: a logout that ran in
    between (here: the second lookup finds no session) refuses the connection and forgets it."""
    hub = CallHub(
        MemoryRoutingStore(ROUTING),
        FailingCrm(set()),
        Recorder(),
        clock=lambda: 100.0,
        new_id=lambda: "id",
        ice_servers=lambda _: [],
    )
    staff = StaffIdentity("7", "agent", "Ahmad", Skills.of(["pensions"], ["ar"]), "session-1")
    answers = iter([staff, None])

    async def lookup(environ):  # type: ignore[no-untyped-def]
        return next(answers)

    namespace = AgentNamespace(hub, lookup)
    with pytest.raises(socketio.exceptions.ConnectionRefusedError):
        await namespace.on_connect("sid-1", {})
    assert await hub.staff_sockets("session-1") == []
    assert await hub.registry.open_sockets("agent:7") == 0
