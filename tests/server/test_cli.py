"""The `vbranch` command, run as a user runs it: a real process on a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

VBRANCH = str(Path(sys.executable).parent / "vbranch")


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VBRANCH_", "DATABASE_URL"))}
    env["VBRANCH_DATA_DIR"] = str(data_dir)
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = _clean_env(tmp_path / "data")
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("fresh_postgres_url")
    return env


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One migrated database with demo data per backend, shared by the read-mostly tests."""
    env = _clean_env(tmp_path_factory.mktemp("cli"))
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("new_postgres_database")()
    for command in (["db", "upgrade"], ["demo"]):
        done = vbranch(env, *command)
        assert done.returncode == 0, done.stderr
    return env


def vbranch(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VBRANCH, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def migrated_env(cli_env: dict[str, str]) -> dict[str, str]:
    done = vbranch(cli_env, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return cli_env


def test_commands_refuse_an_unmigrated_database(cli_env: dict[str, str]) -> None:
    done = vbranch(cli_env, "demo")
    assert done.returncode == 2
    assert "vbranch db upgrade" in done.stderr


def test_demo_is_idempotent_and_prints_the_logins(migrated_env: dict[str, str]) -> None:
    first = vbranch(migrated_env, "demo", "--if-empty")
    assert first.returncode == 0, first.stderr
    assert "demo data loaded" in first.stdout
    assert "agent.sign" in first.stdout and "demo-agent-pass" in first.stdout

    second = vbranch(migrated_env, "demo", "--if-empty")
    assert "already has data" in second.stdout
    again = vbranch(migrated_env, "demo")
    assert again.returncode == 0 and "demo data loaded" in again.stdout
    # Still exactly the demo users: a rerun updates, it never duplicates.
    added = vbranch(
        migrated_env,
        "user",
        "add",
        "agent.ar",
        "--role",
        "agent",
        "--password-stdin",
        stdin="long-enough-password\n",
    )
    assert added.returncode == 2 and "taken" in added.stderr


def test_user_add_with_role_and_skills(demo_env: dict[str, str]) -> None:
    done = vbranch(
        demo_env,
        "user",
        "add",
        "layla",
        "--role",
        "agent",
        "--name",
        "Layla",
        "--languages",
        "ar,en",
        "--categories",
        "medical,pensions",
        "--sign-language",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added agent layla (ar, en, medical, pensions, sign language)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--categories", "astrology"], "unknown service categories: astrology"),
        (["--languages", "fr"], "unknown language(s): fr"),
    ],
)
def test_user_add_refuses_unknown_skills(
    demo_env: dict[str, str], args: list[str], message: str
) -> None:
    done = vbranch(
        demo_env,
        "user",
        "add",
        "someone",
        "--role",
        "agent",
        *args,
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_user_add_refuses_a_short_password(demo_env: dict[str, str]) -> None:
    done = vbranch(
        demo_env,
        "user",
        "add",
        "someone",
        "--role",
        "admin",
        "--password-stdin",
        stdin="short\n",
    )
    assert done.returncode == 2 and "at least 10 characters" in done.stderr


@pytest.mark.parametrize(
    ("calendar", "start", "days", "expected"),
    [
        # The DOMAIN.md examples on IR-1420 (Saturday 2026-11-21 is an ordinary working day).
        ("IR-1420", "2026-11-21T10:00+03:30", "3", "2026-11-24T20:00:00+03:30"),
        ("IR-1420", "2026-11-21T21:00+03:30", "3", "2026-11-25T20:00:00+03:30"),
        ("IR-1420", "2026-11-21T10:00+03:30", "5", "2026-11-26T16:00:00+03:30"),
        # No offset: read as the calendar's local time. A start in UTC is converted.
        ("IR-1420", "2026-11-21T10:00", "3", "2026-11-24T20:00:00+03:30"),
        ("SA-GOSI", "2026-11-21T08:00Z", "3", "2026-11-25T16:00:00+03:00"),
    ],
)
def test_sla_due(
    demo_env: dict[str, str], calendar: str, start: str, days: str, expected: str
) -> None:
    done = vbranch(
        demo_env, "sla", "due", "--calendar", calendar, "--from", start, "--working-days", days
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--calendar", "XX-NOPE", "--from", "2026-11-21T10:00", "--working-days", "3"],
            "unknown calendar 'XX-NOPE'",
        ),
        (
            ["--calendar", "IR-1420", "--from", "21/11/2026", "--working-days", "3"],
            "not an ISO 8601",
        ),
        (
            ["--calendar", "IR-1420", "--from", "2026-11-21T10:00", "--working-days", "11"],
            "10 working days",
        ),
    ],
)
def test_sla_due_errors_are_one_line_and_exit_2(
    demo_env: dict[str, str], args: list[str], message: str
) -> None:
    done = vbranch(demo_env, "sla", "due", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_bad_configuration_stops_with_the_variable_named(cli_env: dict[str, str]) -> None:
    done = vbranch({**cli_env, "VBRANCH_LISTEN": "nowhere"}, "serve")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("vbranch: error: VBRANCH_LISTEN")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_on_its_port(demo_env: dict[str, str]) -> None:
    port = _free_port()
    with subprocess.Popen(
        [VBRANCH, "serve", "--port", str(port)],
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            _wait_until_healthy(server, port)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/?lang=en", timeout=5) as page:
                assert "Pensions" in page.read().decode()
        finally:
            server.terminate()
            server.wait(timeout=30)
        output = server.stdout.read() if server.stdout else ""
    # uvloop is a dependency wherever it exists (not on Windows).
    expected = "asyncio loop" if sys.platform == "win32" else "uvloop loop"
    assert f"in-memory queue, {expected})" in output, output


def _wait_until_healthy(server: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                assert answer.status == 200
                return
        except OSError:
            if server.poll() is not None:
                output = server.stdout.read() if server.stdout else ""
                pytest.fail(f"the server exited: {output}")
            assert time.monotonic() < deadline, "the server did not come up within 60 s"
            time.sleep(0.2)
