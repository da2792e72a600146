"""Every typed key on the aiohttp application, in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import jinja2
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vbranch_server.auth.ratelimit import Limiter
from vbranch_server.crm.call_log_writer import CallLogWriter
from vbranch_server.i18n import Catalogs
from vbranch_server.metrics import Metrics
from vbranch_server.settings import Settings

Clock = Callable[[], datetime]

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
CALL_LOG = web.AppKey("call_log", CallLogWriter)
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
METRICS = web.AppKey("metrics", Metrics)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGS = web.AppKey("catalogs", Catalogs)
LOGIN_LIMITER = web.AppKey("login_limiter", Limiter)
TRACK_LIMITER = web.AppKey("track_limiter", Limiter)
REQUEST_LIMITER = web.AppKey("request_limiter", Limiter)
VISIT_LIMITER = web.AppKey("visit_limiter", Limiter)
