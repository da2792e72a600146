"""Argon2 off the event loop, a bounded number at once; old hashes upgraded at login.

Every test runs on SQLite and on PostgreSQL. The hashes are real argon2id at a cheap cost; where a
test needs to hold a verification in progress it gates it, and asserts orderings, never durations.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import select, update

from vbranch_server.auth import passwords
from vbranch_server.crm.demo import DEMO_LOGINS
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import StaffUser
from vbranch_server.settings import Settings

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class GatedHasher(PasswordHasher):
    """A real hasher (cheap unless told), counting what it does; each verification (with
    `hold_verify`) or hash (with `hold_hash`) holds its thread until the test opens the gate."""

    def __init__(
        self, *, hold_verify: bool = False, hold_hash: bool = False, **parameters: Any
    ) -> None:
        super().__init__(**(parameters or CHEAP))
        self.hold_verify, self.hold_hash = hold_verify, hold_hash
        self.gate = threading.Event()
        self.loop_thread = threading.get_ident()
        self._loop, self._counted = asyncio.get_running_loop(), asyncio.Event()
        self._lock = threading.Lock()
        self.verified = self.hashed = self.running = self.most_at_once = self.on_loop = 0

    def _hold(self, held: bool) -> None:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            on_loop = threading.get_ident() == self.loop_thread
            self.on_loop += on_loop
            if held:
                # On the event loop nothing could ever open the gate: there it stands in for
                # the cost a while, and the loop serves nothing meanwhile.
                self.gate.wait(timeout=0.5 if on_loop else 60)
        finally:
            with self._lock:
                self.running -= 1

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        self._loop.call_soon_threadsafe(self._counted.set)
        self._hold(self.hold_verify)
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._lock:
            self.hashed += 1
        self._loop.call_soon_threadsafe(self._counted.set)
        self._hold(self.hold_hash)
        return super().hash(password, salt=salt)

    async def reached(self, condition: Callable[[], bool]) -> None:
        """Until `condition` holds (re-checked at each verification or hash begun)."""
        async with asyncio.timeout(60):
            while not condition():
                self._counted.clear()
                if not condition():
                    await self._counted.wait()


async def stored_hash(settings: Settings, username: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            found = await db.scalar(
                select(StaffUser.password_hash).where(StaffUser.username == username)
            )
            assert found is not None
            return found
    finally:
        await engine.dispose()


async def set_stored_hash(settings: Settings, username: str, value: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db, db.begin():
            await db.execute(
                update(StaffUser).where(StaffUser.username == username).values(password_hash=value)
            )
    finally:
        await engine.dispose()


async def log_in(client: TestClient, username: str, password: str) -> int:
    response = await client.post("/api/login", json={"username": username, "password": password})
    await response.read()
    return response.status


async def test_healthz_answers_while_a_burst_of_logins_is_verified(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = GatedHasher(hold_verify=True)
    monkeypatch.setattr(passwords, "HASHER", hasher)
    order: list[str] = []
    users = list(PASSWORDS)

    async def one_login(n: int) -> int:
        username = users[n % len(users)]
        status = await log_in(client, username, PASSWORDS[username])
        order.append("login")
        return status

    burst = asyncio.gather(*(one_login(n) for n in range(20)))
    try:
        # Every slot taken by a verification held at the gate, the others queued behind them.
        await hasher.reached(lambda: hasher.verified >= passwords.MAX_CONCURRENT_HASHES)
        health = await client.get("/healthz")
        order.append("healthz")
        in_progress, begun = hasher.running, hasher.verified
    finally:
        hasher.gate.set()
        statuses = await burst
    assert health.status == 200
    # /healthz answered while verifications were running: not on the event loop, then.
    assert in_progress == passwords.MAX_CONCURRENT_HASHES
    assert order[0] == "healthz" and order.count("login") == 20
    assert statuses == [200] * 20
    assert hasher.on_loop == 0
    # No more at once than the bound, even with twenty waiting.
    assert begun == passwords.MAX_CONCURRENT_HASHES
    assert hasher.most_at_once == passwords.MAX_CONCURRENT_HASHES
    assert hasher.verified == 20


async def test_an_unknown_username_costs_a_verification_like_a_wrong_password(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = GatedHasher()
    monkeypatch.setattr(passwords, "HASHER", hasher)
    assert await log_in(client, "agent.ar", "wrong-password") == 401
    assert hasher.verified == 1
    assert await log_in(client, "nobody", "wrong-password") == 401
    assert hasher.verified == 2
    # Against a hash made with the current parameters, like the users' own.
    assert not hasher.check_needs_rehash(passwords._dummy_hash(hasher))


async def test_a_login_upgrades_a_hash_made_with_older_parameters(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await stored_hash(settings, "agent.ar")  # made with the cheapest parameters
    current = GatedHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", current)
    assert current.check_needs_rehash(old)

    assert await log_in(client, "agent.ar", "demo-agent-pass") == 200
    upgraded = await stored_hash(settings, "agent.ar")
    assert upgraded != old
    assert not current.check_needs_rehash(upgraded)
    assert current.verify(upgraded, "demo-agent-pass")
    assert current.hashed == 1

    # Now current: the next login verifies against it and hashes nothing.
    assert await log_in(client, "agent.ar", "demo-agent-pass") == 200
    assert await stored_hash(settings, "agent.ar") == upgraded
    assert current.hashed == 1
    assert await log_in(client, "agent.ar", "demo-agent-pas") == 401


async def test_an_upgrade_never_overwrites_a_password_changed_meanwhile(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = GatedHasher(hold_hash=True, time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", current)

    login = asyncio.ensure_future(log_in(client, "agent.ar", "demo-agent-pass"))
    try:
        await current.reached(lambda: current.hashed == 1)  # verified, now hashing the upgrade
        changed = PasswordHasher(**CHEAP).hash("a-new-password-123")
        await set_stored_hash(settings, "agent.ar", changed)
    finally:
        current.gate.set()
    assert await login == 200  # the password was right when it was checked
    assert await stored_hash(settings, "agent.ar") == changed
