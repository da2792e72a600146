"""One real `vbranch serve` process with a data folder, database and Redis keys of its own.

Everything made here is removed again when the run ends, whether it succeeded or not: the server is
stopped, the PostgreSQL database dropped, the Redis keys under the run's prefix deleted and the
temporary folder removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.signaling.accounts import create_agents
from vbranch_server.db.engine import create_engine
from vbranch_server.settings import normalize_database_url

#: The console script installed next to the interpreter running the benchmark (the project's venv).
VBRANCH = str(Path(sys.executable).parent / "vbranch")

MODES = ("sqlite", "redis-postgres")
COMMAND_TIMEOUT = 120.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
#: Log lines kept for the report; the rest are only counted.
LOG_EXAMPLES = 5


@dataclass(frozen=True)
class Services:
    """Where the shared services of the redis-postgres mode live."""

    redis_url: str
    postgres_url: str


@dataclass(frozen=True)
class Deployment:
    mode: str
    data_dir: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str
    #: One key for every command of the run (a key of at least 32 characters, as the server asks).
    secret_key: str = field(default_factory=lambda: "bench-" + secrets.token_urlsafe(32))

    def env(self) -> dict[str, str]:
        # Nothing inherited may change the mode: a REDIS_URL or VBRANCH_* from the caller's shell
        # would silently turn the SQLite run into something else.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("VBRANCH_") and key not in {"DATABASE_URL", "REDIS_URL"}
        }
        env = {
            **inherited,
            "DATABASE_URL": self.database_url,
            "VBRANCH_DATA_DIR": str(self.data_dir),
            "VBRANCH_SECRET_KEY": self.secret_key,
            "VBRANCH_REDIS_PREFIX": self.redis_prefix,
            # Info lines for every request would cost the server time we are trying to measure.
            "VBRANCH_LOG_LEVEL": "WARNING",
            # Every bench customer starts its visit from this one address.
            "VBRANCH_VISITS_PER_MINUTE": "1000000",
            "VBRANCH_OPEN_VISITS_PER_ADDRESS": "1000000",
            # Plain HTTP on loopback, as in development: the bare `vb_session` cookie.
            "VBRANCH_SECURE_COOKIES": "false",
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env


@dataclass
class LogSummary:
    errors: int
    warnings: int
    examples: list[str]


@dataclass
class RunningServer:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    #: What the server logged, read once it has stopped (its folder is removed right after).
    final_log: LogSummary | None = None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm)".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_summary(self) -> LogSummary:
        return summarize_log(self.log_path.read_text(errors="replace").splitlines())


LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _exception_line(traceback: list[str]) -> str:
    """The `SomeError: message` line of a traceback (SQLAlchemy adds lines after it)."""
    named = [line for line in traceback if EXCEPTION_LINE.match(line)]
    return named[-1] if named else next((t for t in reversed(traceback) if t.strip()), "")


def summarize_log(lines: list[str]) -> LogSummary:
    """Counts error and warning records; each example is the record with the last line of its
    traceback, which names the actual exception."""
    errors = warnings = 0
    examples: list[str] = []
    for number, line in enumerate(lines):
        if not line.startswith(("CRITICAL", "ERROR", "WARNING")):
            continue
        errors += not line.startswith("WARNING")
        warnings += line.startswith("WARNING")
        following = [*lines[number + 1 :], "INFO end"]
        end = next(i for i, text in enumerate(following) if text.startswith(LEVELS))
        cause = _exception_line(following[:end])
        example = f"{line} — {cause.strip()}" if cause else line
        if example not in examples:
            examples.append(example)
    return LogSummary(errors, warnings, examples[:LOG_EXAMPLES])


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PostgreSQL and Redis --------------------------------------------------------------------


def _admin_url(postgres_url: str) -> str:
    url = make_url(normalize_database_url("--postgres-url", postgres_url))
    return url.set(database=url.database or "postgres").render_as_string(hide_password=False)


async def _execute_autocommit(admin_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with asyncio.timeout(30), engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def create_postgres_database(postgres_url: str) -> tuple[str, str]:
    """A fresh, empty database; returns its name and URL."""
    admin = _admin_url(postgres_url)
    name = f"vbranch_bench_{uuid.uuid4().hex[:12]}"
    await _execute_autocommit(admin, f'CREATE DATABASE "{name}"')
    return name, make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(postgres_url: str, name: str) -> None:
    await _execute_autocommit(
        _admin_url(postgres_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


async def delete_redis_keys(redis_url: str, prefix: str) -> int:
    client = Redis.from_url(redis_url, socket_timeout=10)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        await client.aclose()


async def check_services(services: Services) -> None:
    """Fail early, with the reason, when Redis or PostgreSQL is not there."""
    client = Redis.from_url(services.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()
    await _execute_autocommit(_admin_url(services.postgres_url), "SELECT 1")


# --- the server process ------------------------------------------------------------------------


async def run_command(deployment: Deployment, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        VBRANCH,
        *args,
        env=deployment.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(
            f"`vbranch {' '.join(args)}` took over {COMMAND_TIMEOUT:.0f} s"
        ) from None
    if process.returncode != 0:
        raise RuntimeError(f"`vbranch {' '.join(args)}` failed: {output.decode(errors='replace')}")


async def _wait_healthy(process: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited at start: {_read(log)}")
            try:
                async with http.get(f"{base_url}/healthz") as answer:
                    if answer.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not become healthy within {START_TIMEOUT:.0f} s")


async def start_server(deployment: Deployment) -> RunningServer:
    port = free_port()
    log_path = deployment.data_dir / "server.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            VBRANCH,
            "serve",
            "--port",
            str(port),
            env=deployment.env(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for the benchmark does not reach it mid-measurement;
            # the benchmark stops it itself.
            start_new_session=True,
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        await _wait_healthy(process, server.base_url, log_path)
    except BaseException:
        await stop_server(server)
        raise
    return server


async def stop_server(server: RunningServer) -> None:
    if server.process.returncode is not None:
        return
    server.process.terminate()
    try:
        await asyncio.wait_for(server.process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        server.process.kill()
        await server.process.wait()


# --- one deployment, set up and always torn down -------------------------------------------------


async def _prepare(deployment: Deployment, agents: int) -> list[str]:
    await run_command(deployment, "db", "upgrade")
    # The server runs on the real clock: every service open, whatever the hour of the run.
    await run_command(deployment, "demo", "--always-open")
    return await create_agents(
        normalize_database_url("DATABASE_URL", deployment.database_url), agents
    )


@contextlib.asynccontextmanager
async def deployed(
    mode: str, agents: int, services: Services
) -> AsyncIterator[tuple[RunningServer, list[str]]]:
    """A migrated, seeded server with `agents` bench agent accounts; yields it and their usernames."""
    data_dir = Path(tempfile.mkdtemp(prefix="vbranch-bench-"))
    prefix = f"vbbench-{uuid.uuid4().hex[:8]}:"
    database: str | None = None
    server: RunningServer | None = None
    try:
        if mode == "sqlite":
            deployment = Deployment(
                mode, data_dir, f"sqlite:///{data_dir / 'vbranch.db'}", None, prefix
            )
        else:
            database, url = await create_postgres_database(services.postgres_url)
            deployment = Deployment(mode, data_dir, url, services.redis_url, prefix)
        usernames = await _prepare(deployment, agents)
        server = await start_server(deployment)
        yield server, usernames
    finally:
        await _tear_down(mode, services, data_dir, prefix, database, server)


async def _attempt(what: str, work: Awaitable[object]) -> None:
    # Teardown goes on after a failed step, but says so: a leftover database must not go unnoticed.
    try:
        await work
    except Exception as exc:
        print(f"warning: could not {what}: {exc.__class__.__name__}: {exc}", file=sys.stderr)


async def _tear_down(
    mode: str,
    services: Services,
    data_dir: Path,
    prefix: str,
    database: str | None,
    server: RunningServer | None,
) -> None:
    if server is not None:
        await _attempt("stop the server", stop_server(server))
        with contextlib.suppress(OSError):
            server.final_log = server.log_summary()
    if mode != "sqlite":
        await _attempt(
            f"delete the Redis keys {prefix}*", delete_redis_keys(services.redis_url, prefix)
        )
        if database is not None:
            await _attempt(
                f"drop the database {database}",
                drop_postgres_database(services.postgres_url, database),
            )
    shutil.rmtree(data_dir, ignore_errors=True)
