"""The application factory: settings in, a wired aiohttp application out. Nothing runs at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from vbranch_queue.core.model import RoutingConfig
from vbranch_server.auth.ratelimit import LOGIN_RULES, Limiter, Rule
from vbranch_server.crm.call_log_writer import CallLogWriter
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.i18n import Catalogs
from vbranch_server.keys import (
    CALL_LOG,
    CATALOGS,
    CLOCK,
    DB,
    ENGINE,
    LOGIN_LIMITER,
    METRICS,
    REDIS,
    REQUEST_LIMITER,
    SETTINGS,
    TEMPLATES,
    TRACK_LIMITER,
    VISIT_LIMITER,
    Clock,
)
from vbranch_server.metrics import Metrics, metrics_middleware
from vbranch_server.realtime import echo
from vbranch_server.realtime.echo import echo_ctx
from vbranch_server.realtime.wiring import setup_realtime
from vbranch_server.redis_clients import check_redis, redis_client
from vbranch_server.settings import Settings
from vbranch_server.web import (
    auth_views,
    console_api,
    files_api,
    health,
    openapi,
    pages,
    requests_api,
    supervisor_api,
    tickets_api,
    track_api,
    visits_api,
)
from vbranch_server.web.errors import error_middleware
from vbranch_server.web.pages import template_environment
from vbranch_server.web.security import access_middleware, setup_security_headers
from vbranch_server.web.source import setup_source

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].database_url)
    app[ENGINE] = engine
    app[DB] = session_factory(engine)
    yield
    await engine.dispose()


async def _call_log_ctx(app: web.Application) -> AsyncIterator[None]:
    writer = CallLogWriter(app[ENGINE])
    writer.start()
    app[CALL_LOG] = writer
    yield
    await writer.close()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # No Redis URL means the embedded, single-process mode: the in-memory queue.
    if not settings.redis_url:
        app[REDIS] = None
        yield
        return
    # A wrong password or certificate stops the start here, in one line (see `check_redis`).
    await check_redis(settings)
    redis = app[REDIS] = redis_client(settings)
    # Several processes: each limit is counted once for all of them, not once in each.
    for key in (LOGIN_LIMITER, TRACK_LIMITER, REQUEST_LIMITER, VISIT_LIMITER):
        app[key].share(redis, settings.redis_prefix + "limits:")
    yield
    await redis.aclose()


def _add_static(app: web.Application, settings: Settings) -> None:
    root = settings.web_root
    app.router.add_static("/static/client/", root / "client_web" / "static")
    app.router.add_static("/static/console/", root / "agent_console" / "static")
    # Browser libraries come from npm (installed by the setup command, never committed).
    for prefix, folder in {
        "/static/vendor/socket.io/": root / "node_modules" / "socket.io-client" / "dist",
        "/static/vendor/chart.js/": root / "node_modules" / "chart.js" / "dist",
    }.items():
        if folder.is_dir():
            app.router.add_static(prefix, folder)
        else:
            log.warning("%s is missing: run `npm ci` (the setup command does)", folder)


def create_app(
    settings: Settings, *, clock: Clock = utc_now, routing: RoutingConfig | None = None
) -> web.Application:
    metrics = Metrics()
    # Order matters: metrics see every answer, errors become JSON before metrics count them,
    # and access runs last, next to the handler. Security headers are added to every response
    # as it is sent (setup_security_headers), whatever made it.
    app = web.Application(
        middlewares=[
            metrics_middleware(metrics),
            error_middleware,
            access_middleware,
        ],
        client_max_size=1024 * 1024,
    )
    setup_security_headers(app)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = metrics
    app[CATALOGS] = Catalogs.load()
    app[LOGIN_LIMITER] = Limiter("login", LOGIN_RULES)
    app[TRACK_LIMITER] = Limiter("track", {"address": Rule(most=10, window=600)})
    # Requests left outside opening hours: enough for a family, not for a flood.
    app[REQUEST_LIMITER] = Limiter("requests", {"address": Rule(most=5, window=600)})
    app[VISIT_LIMITER] = Limiter("visits", {"address": Rule(settings.visits_per_minute, 60)})
    app[TEMPLATES] = template_environment(
        str(settings.web_root / "client_web" / "templates"),
        str(settings.web_root / "agent_console" / "templates"),
    )
    # Order matters: contexts close in reverse, so the call log's last entries are written
    # after the call hub stops and before the database engine is disposed. Redis first: a
    # refused password stops the start before anything else has started.
    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_call_log_ctx)
    app.cleanup_ctx.append(echo_ctx)
    for module in (
        health,
        pages,
        auth_views,
        tickets_api,
        track_api,
        openapi,
        visits_api,
        files_api,
        requests_api,
        console_api,
        supervisor_api,
        echo,
    ):
        app.router.add_routes(module.routes)
    setup_source(app)
    _add_static(app, settings)
    setup_realtime(app, settings, routing or RoutingConfig())
    return app
