"""`python -m bench.signaling`: runs every mode × size, prints each run and a summary table."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Sequence

from bench.signaling.run import Plan, run_once
from bench.signaling.server import MODES, Services, check_services
from bench.signaling.stats import Result, describe, table

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"


def _modes(text: str) -> list[str]:
    modes = [mode.strip() for mode in text.split(",") if mode.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if not modes or unknown:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}; got {text!r}")
    return modes


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers, got {text!r}") from None
    if not sizes or any(size < 2 or size % 2 for size in sizes):
        raise argparse.ArgumentTypeError("each size is an even number of clients, at least 2")
    return sizes


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):
        raise argparse.ArgumentTypeError(f"a rate is calls per second above 0, got {text!r}")
    return rate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.signaling", description=__doc__)
    parser.add_argument("--modes", type=_modes, default=list(MODES), help="sqlite,redis-postgres")
    parser.add_argument(
        "--sizes", type=_sizes, default=[100, 1000], help="connected clients, half agents"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of calls before the window, not counted"
    )
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        help="each customer's pause between calls (default 0: every customer calls back at once)",
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        default=None,
        help="calls offered per second, all customers together (default: each calls back at once)",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="admin connection")
    return parser


def _raise_open_files_limit(clients: int) -> None:
    # Each client holds a socket here and one in the server (which inherits this limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients * 2 + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _services_or_reason(services: Services) -> str | None:
    try:
        await check_services(services)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


async def run_all(args: argparse.Namespace) -> int:
    services = Services(args.redis_url, args.postgres_url)
    results: list[Result] = []
    failed = False
    for mode in args.modes:
        if mode == "redis-postgres" and (reason := await _services_or_reason(services)):
            print(f"== {mode}: skipped, Redis or PostgreSQL unreachable ({reason})\n", flush=True)
            failed = True
            continue
        for clients in args.sizes:
            print(f"-- {mode}, {clients} clients: setting up…", flush=True)
            try:
                plan = Plan(
                    mode, clients, args.seconds, args.warmup, args.pause_ms / 1000, args.rate
                )
                result = await run_once(plan, services)
            except Exception as exc:
                print(f"== {mode}, {clients} clients: FAILED: {exc.__class__.__name__}: {exc}\n")
                failed = True
                continue
            results.append(result)
            print(describe(result) + "\n", flush=True)
    if results:
        print(table(results))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _raise_open_files_limit(max(args.sizes))
    try:
        return asyncio.run(run_all(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C cancels the run; its cleanup (server, database, Redis keys, folder) has run by now.
        # Depending on which library saw the cancellation last, asyncio.run re-raises it as either.
        print("interrupted: the server was stopped and its data removed", file=sys.stderr)
        return 130
