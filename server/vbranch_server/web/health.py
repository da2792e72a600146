"""Liveness and dependencies: `/healthz` for load balancers, `/metrics` for Prometheus."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from vbranch_server.keys import ENGINE, METRICS, REDIS
from vbranch_server.metrics import metrics_handler
from vbranch_server.web.security import public

routes = web.RouteTableDef()

_CHECK_TIMEOUT = 2.0


async def _database_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT), request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _redis_state(request: web.Request) -> str:
    redis = request.app[REDIS]
    if redis is None:
        return "not_configured"
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            await redis.ping()
        return "ok"
    except Exception:
        return "down"


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    database = "ok" if await _database_ok(request) else "down"
    redis = await _redis_state(request)
    healthy = database == "ok" and redis != "down"
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "database": database, "redis": redis},
        status=200 if healthy else 503,
    )


@routes.get("/metrics")
@public
async def metrics(request: web.Request) -> web.Response:
    return await metrics_handler(request.app[METRICS])(request)  # type: ignore[return-value]
