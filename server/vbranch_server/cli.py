"""The `vbranch` command: serve, migrate, demo data, staff accounts, SLA deadlines."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from vbranch_server.settings import ConfigError, Settings, load_settings

T = TypeVar("T")

#: argparse's own convention: 2 means "you asked for something that cannot be done".
USAGE_ERROR = 2


class CommandError(Exception):
    """A one-line error for the user; the command exits with status 2."""


async def _with_session(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from vbranch_server.db.engine import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _now() -> datetime:
    from vbranch_server.app import utc_now

    return utc_now()


async def _require_schema(settings: Settings) -> None:
    from vbranch_server.db.engine import create_engine
    from vbranch_server.db.migrate import current_revision, head_revision

    engine = create_engine(settings.database_url)
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    if current != head_revision():
        raise CommandError("the database is not migrated: run `vbranch db upgrade` first")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from aiohttp import web

    from vbranch_server.app import create_app
    from vbranch_server.gc_tuning import settle_after_start

    asyncio.run(_require_schema(settings))
    host, port = args.host or settings.host, args.port or settings.port
    mode = "Redis" if settings.redis_url else "in-memory queue"
    loop = _event_loop()
    kind = type(loop).__module__.split(".")[0]  # "uvloop" or "asyncio"
    database = settings.database_url.split(":")[0]
    print(f"vbranch serving on http://{host}:{port} ({database}, {mode}, {kind} loop)", flush=True)
    app = create_app(settings)

    async def settle(_app: web.Application) -> None:
        settle_after_start()

    app.on_startup.append(settle)  # last: after the database, catalogs and hub are up
    web.run_app(app, host=host, port=port, print=None, loop=loop)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux and macOS): the same asyncio API, with the loop and its
    sockets in C; the signaling server spends much of its time there. Else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> None:
    from vbranch_server.db.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest schema")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from vbranch_server.crm.demo import DEMO_LOGINS, database_is_empty, seed_demo

    asyncio.run(_require_schema(settings))

    async def work(session):  # type: ignore[no-untyped-def]
        if args.if_empty and not await database_is_empty(session):
            return False
        await seed_demo(session, _now(), always_open=args.always_open)
        return True

    seeded = asyncio.run(_with_session(settings, work))
    print("demo data loaded" if seeded else "database already has data: demo data left as it is")
    print("demo logins (username / password / role):")
    for login in DEMO_LOGINS:
        print(f"  {login.username:<12} {login.password:<22} {login.role.value}")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("VBRANCH_NEW_PASSWORD"):
        return os.environ["VBRANCH_NEW_PASSWORD"]
    if not sys.stdin.isatty():
        raise CommandError("no password: use --password-stdin or set VBRANCH_NEW_PASSWORD")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CommandError("the passwords differ")
    return first


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> None:
    from vbranch_server.auth.staff import StaffAccountError, add_staff_user
    from vbranch_server.db.models import StaffRole

    asyncio.run(_require_schema(settings))
    password = _read_password(args)

    async def work(session):  # type: ignore[no-untyped-def]
        return await add_staff_user(
            session,
            username=args.username,
            password=password,
            role=StaffRole(args.role),
            display_name=args.name or args.username,
            languages=_split(args.languages),
            categories=_split(args.categories),
            sign_language=args.sign_language,
            now=_now(),
        )

    try:
        user = asyncio.run(_with_session(settings, work))
    except StaffAccountError as exc:
        raise CommandError(str(exc)) from None
    skills = ", ".join(
        [*user.languages, *user.categories, *(["sign language"] * user.sign_language)]
    )
    print(f"added {user.role.value} {user.username} ({skills or 'no skills'})")


def _parse_moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--from: {text!r} is not an ISO 8601 date and time") from None


def cmd_sla_due(settings: Settings, args: argparse.Namespace) -> None:
    from vbranch_server.crm.calendars import UnknownCalendarError, load_calendar
    from vbranch_server.sla import validate_resolution_target, working_days_after

    start = _parse_moment(args.start)
    try:
        validate_resolution_target(args.working_days)
    except ValueError as exc:
        raise CommandError(f"--working-days: {exc}") from None
    asyncio.run(_require_schema(settings))
    try:
        calendar = asyncio.run(_with_session(settings, lambda s: load_calendar(s, args.calendar)))
    except UnknownCalendarError as exc:
        raise CommandError(str(exc)) from None
    if start.tzinfo is None:
        # A moment without an offset is read as the calendar's own local time.
        start = start.replace(tzinfo=calendar.zone)
    print(working_days_after(calendar, start, args.working_days).isoformat())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vbranch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", help="listen address (default from VBRANCH_LISTEN)")
    serve.add_argument("--port", type=int, help="listen port (default from VBRANCH_LISTEN)")
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply all migrations").set_defaults(run=cmd_db_upgrade)

    demo = commands.add_parser("demo", help="load demo calendars, services and staff (idempotent)")
    demo.add_argument("--if-empty", action="store_true", help="only when there is no staff yet")
    demo.add_argument(
        "--always-open",
        action="store_true",
        help="every demo service open at all hours (to try or benchmark vbranch at night)",
    )
    demo.set_defaults(run=cmd_demo)

    user = commands.add_parser("user", help="staff accounts").add_subparsers(
        dest="user", required=True
    )
    add = user.add_parser("add", help="add a staff member")
    add.add_argument("username")
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], required=True)
    add.add_argument("--name", help="display name")
    add.add_argument("--languages", default="", help="comma-separated: ar,en")
    add.add_argument("--categories", default="", help="comma-separated service category codes")
    add.add_argument("--sign-language", action="store_true", help="serves sign-language calls")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(run=cmd_user_add)

    sla = commands.add_parser("sla", help="SLA deadlines").add_subparsers(dest="sla", required=True)
    due = sla.add_parser("due", help="the deadline N working days from a moment")
    due.add_argument("--calendar", required=True, help="calendar name, e.g. IR-1420")
    due.add_argument(
        "--from", dest="start", required=True, help="ISO 8601, e.g. 2026-11-21T10:00+03:30"
    )
    due.add_argument("--working-days", type=int, required=True)
    due.set_defaults(run=cmd_sla_due)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A server logs its life; a one-shot command prints its answer and stays quiet otherwise.
    default_level = "INFO" if args.command == "serve" else "WARNING"
    logging.basicConfig(
        level=os.environ.get("VBRANCH_LOG_LEVEL", default_level),
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every schema check at INFO; only its problems matter outside `db upgrade`.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args.run(load_settings(), args)
    except (ConfigError, CommandError) as exc:
        print(f"vbranch: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
