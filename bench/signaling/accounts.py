"""Bench agents (made straight in the database), their logins, and customers' visit tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
from argon2 import PasswordHasher

from vbranch_server.auth.sessions import SESSION_COOKIE
from vbranch_server.crm.demo import DEMO_CATEGORIES
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import StaffRole, StaffUser

BENCH_PASSWORD = "bench-agent-password"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
#: Logins and visits in flight at once while setting up; the setup is not what is measured.
SETUP_CONCURRENCY = 25


def cheap_password_hash() -> str:
    """One argon2id hash with the cheapest parameters, shared by every bench agent.

    A benchmark shortcut: the product hashes with argon2's defaults (tens of milliseconds and 64 MiB
    each), which would make logging in 500 agents the slowest part of the run. The server verifies
    a hash by the parameters written in it, so real logins still go through the real code.
    """
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(BENCH_PASSWORD)


def agent_usernames(count: int) -> list[str]:
    return [f"bench.agent.{number:04d}" for number in range(count)]


async def create_agents(database_url: str, count: int) -> list[str]:
    """`count` agents serving every demo category in Arabic and English; returns their usernames."""
    password_hash = cheap_password_hash()
    categories = [category["code"] for category in DEMO_CATEGORIES]
    usernames = agent_usernames(count)
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db, db.begin():
            db.add_all(
                StaffUser(
                    username=username,
                    display_name=f"Bench agent {number}",
                    password_hash=password_hash,
                    role=StaffRole.AGENT,
                    languages=["ar", "en"],
                    categories=categories,
                    sign_language=False,
                    active=True,
                    created_at=now,
                )
                for number, username in enumerate(usernames)
            )
    finally:
        await engine.dispose()
    return usernames


async def _login(http: aiohttp.ClientSession, base_url: str, username: str) -> str:
    async with http.post(
        f"{base_url}/api/login", json={"username": username, "password": BENCH_PASSWORD}
    ) as answer:
        if answer.status != 200:
            raise RuntimeError(f"login of {username} failed: {answer.status} {await answer.text()}")
        return answer.cookies[SESSION_COOKIE].value


async def _visit(http: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    async with http.post(f"{base_url}/api/visits", json={"language": "ar"}) as answer:
        if answer.status != 201:
            raise RuntimeError(f"POST /api/visits failed: {answer.status} {await answer.text()}")
        return dict(await answer.json())


async def _bounded_all(jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def _session() -> aiohttp.ClientSession:
    # No cookie jar: each login's cookie is read from its own answer and must not leak into others.
    return aiohttp.ClientSession(timeout=HTTP_TIMEOUT, cookie_jar=aiohttp.DummyCookieJar())


async def log_in_all(base_url: str, usernames: list[str]) -> list[str]:
    """Real logins through POST /api/login; returns each agent's session cookie value."""
    async with _session() as http:
        return await _bounded_all([_login(http, base_url, name) for name in usernames])


async def visit_tokens(base_url: str, count: int) -> list[str]:
    """Visit tokens from POST /api/visits, one per customer."""
    async with _session() as http:
        visits = await _bounded_all([_visit(http, base_url) for _ in range(count)])
    return [visit["token"] for visit in visits]
