"""Shared fixtures: real databases (SQLite file, PostgreSQL), settings, a controllable clock, the app.

Redis and PostgreSQL come from REDIS_URL_TEST / POSTGRES_URL_TEST. Where one is unreachable its
tests skip with the reason, except under CI=true, where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.migrate import upgrade
from vbranch_server.db.models import Base
from vbranch_server.settings import Settings, normalize_database_url

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = normalize_database_url(
    "POSTGRES_URL_TEST",
    os.environ.get("POSTGRES_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test"),
)
REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")


def service_missing(name: str, reason: str) -> None:
    message = f"{name} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(f"{message}: CI needs it, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


@dataclass
class FakeClock:
    """The app's clock in tests: time moves only when a test says so."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 8, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test gets a copy of the migrated file."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _create_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL, or a skip/failure naming why not."""

    async def probe() -> None:
        engine = create_engine(POSTGRES_URL)
        try:
            async with asyncio.timeout(5), engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        service_missing("PostgreSQL", f"{POSTGRES_URL}: {exc.__class__.__name__}: {exc}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def new_postgres_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases of their own on the real server; all are dropped after the run."""
    names: list[str] = []

    def make() -> str:
        name = f"vbranch_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_create_database(postgres_server, name))
        names.append(name)
        return make_url(postgres_server).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in names:
        asyncio.run(_drop_database(postgres_server, name))


@pytest.fixture
def fresh_postgres_url(new_postgres_database: Callable[[], str]) -> str:
    """An empty database of its own (for migration and CLI tests)."""
    return new_postgres_database()


@pytest.fixture(scope="session")
def postgres_migrated(new_postgres_database: Callable[[], str]) -> str:
    """One migrated database for the whole run; tests empty its tables before use."""
    url = new_postgres_database()
    upgrade(url)
    return url


async def _empty_postgres(url: str) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            # TRUNCATE is not an UPDATE or DELETE: the history's append-only triggers allow it.
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # Ticket references come from per-year sequences created at run time: start afresh.
            await conn.execute(
                text(
                    "DO $$ DECLARE r record; BEGIN FOR r IN SELECT relname FROM pg_class "
                    "WHERE relkind = 'S' AND relname LIKE 'ticket_reference_%' LOOP "
                    "EXECUTE 'DROP SEQUENCE ' || quote_ident(r.relname); END LOOP; END $$"
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "vbranch.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    asyncio.run(_empty_postgres(url))
    return url


@pytest.fixture
async def db_session(database_url: str) -> AsyncIterator[object]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


# --- the application -------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=None,
        secret_key="test-secret-key-" + "x" * 32,
        data_dir=tmp_path / "data",
        # Plain-HTTP test servers, as in development: the cookies are the bare `vb_*` ones and
        # the test client sends them (tests/server/test_security_headers.py covers secure mode).
        secure_cookies=False,
    )


#: Real argon2id at the lowest cost argon2 accepts, so each login takes a millisecond;
#: `verify_password` reads the cost from the hash. test_auth.py checks the product's own cost.
CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """New hashes at the cheap cost too: a login upgrades a hash made with other parameters than
    the product's (check_needs_rehash), which would make every test's first login cost 0.3 s
    and every later one as much. Tests of the product's own cost set it back."""
    from vbranch_server.auth import passwords

    monkeypatch.setattr(passwords, "HASHER", CHEAP_ARGON2)


async def seed_demo_data(
    database_url: str, now: datetime, password_hash: Callable[[str], str]
) -> None:
    """The real demo data; the demo staff are created first, their passwords hashed by
    `password_hash` (cheaply, or not at all where nobody logs in)."""
    from vbranch_server.crm.demo import DEMO_LOGINS, seed_demo
    from vbranch_server.db.models import StaffUser

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for login in DEMO_LOGINS:
                session.add(
                    StaffUser(
                        username=login.username,
                        display_name=login.display_name,
                        role=login.role,
                        password_hash=password_hash(login.password),
                        created_at=now,
                    )
                )
            await seed_demo(session, now)
    finally:
        await engine.dispose()


@pytest.fixture
async def demo_data(settings: Settings, clock: FakeClock) -> None:
    """The real demo data, with cheaply hashed passwords for the demo logins."""
    await seed_demo_data(settings.database_url, clock(), CHEAP_ARGON2.hash)


@pytest.fixture
async def client(aiohttp_client, settings: Settings, clock: FakeClock, demo_data: None):  # type: ignore[no-untyped-def]
    from vbranch_server.app import create_app

    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis (database 15 by default, kept apart from anything else on the server)."""
    from redis.asyncio import Redis

    async def probe() -> None:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        service_missing("Redis", f"{REDIS_URL}: {exc.__class__.__name__}: {exc}")
    return REDIS_URL
