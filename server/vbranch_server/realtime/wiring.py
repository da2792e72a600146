"""Builds the Socket.IO server and the call hub onto the application, and runs the hub's timer.

With REDIS_URL set, the routing queue lives in Redis and Socket.IO emits cross processes through
`AsyncRedisManager`; without it, one process holds everything in memory.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import socketio
from aiohttp import web
from redis.exceptions import RedisError

from vbranch_queue.core.model import RoutingConfig, Skills
from vbranch_queue.memory import MemoryRoutingStore
from vbranch_queue.redis_link import RedisLink
from vbranch_queue.store import RoutingStore
from vbranch_server.auth.sessions import SESSION_COOKIE, find_session, session_key
from vbranch_server.i18n import pick_language
from vbranch_server.keys import CATALOGS, CLOCK, DB
from vbranch_server.realtime.crm_port import DatabaseCrm
from vbranch_server.realtime.redis_manager import PublishingRedisManager
from vbranch_server.realtime.supervision_port import DatabaseSupervision
from vbranch_server.redis_clients import redis_client, redis_link, redis_options
from vbranch_server.settings import Settings
from vbranch_server.web.cookies import read_cookie
from vbranch_signaling.caps import AbuseCaps
from vbranch_signaling.hub import CallHub, HubConfig
from vbranch_signaling.ice import ice_servers
from vbranch_signaling.line_places import LinePlaces, MemoryLinePlaces, RedisLinePlaces
from vbranch_signaling.namespaces import (
    AgentNamespace,
    CustomerNamespace,
    StaffIdentity,
    SupervisorNamespace,
)
from vbranch_signaling.rate_limit import Rate
from vbranch_signaling.redis_registry import RedisRegistry
from vbranch_signaling.registry import MemoryRegistry, Registry
from vbranch_signaling.schemas import MAX_PAYLOAD_BYTES

log = logging.getLogger(__name__)

SIO = web.AppKey("sio", socketio.AsyncServer)
HUB = web.AppKey("hub", CallHub)
TICK_SECONDS = 0.5
#: How often each process says it is alive (a process silent for 20 s is taken for crashed).
ALIVE_EVERY_SECONDS = 5.0


#: One process at a time runs the timers (offer and connect timeouts, grace periods, pushes):
#: it holds this lease in Redis and renews it each tick; if it dies another takes over.
TIMER_LEASE_MS = 3000


def abuse_caps(settings: Settings) -> AbuseCaps:
    return AbuseCaps(
        open_visits_per_address=settings.open_visits_per_address,
        sockets_per_visit=settings.sockets_per_visit,
        chat=Rate(settings.chat_per_second, settings.chat_burst),
        signal=Rate(settings.signals_per_second, settings.signal_burst),
    )


def _shared_state(
    settings: Settings, config: RoutingConfig
) -> tuple[RoutingStore, Registry, LinePlaces, RedisLink | None]:
    places_per_address = settings.open_visits_per_address
    if not settings.redis_url:
        return (
            MemoryRoutingStore(config, zone=settings.zone),
            MemoryRegistry(),
            MemoryLinePlaces(places_per_address),
            None,
        )
    from vbranch_queue.redis_store import RedisRoutingStore

    # One pipelined connection for every command: a pool costs several times more CPU per command.
    client = redis_link(settings)
    prefix = settings.redis_prefix
    return (
        RedisRoutingStore(client, config, prefix=prefix + "q:", zone=settings.zone),
        RedisRegistry(client, prefix=prefix + "s:"),
        RedisLinePlaces(client, prefix + "s:", places_per_address),
        client,
    )


async def _holds_timer_lease(redis: RedisLink | None, key: str, holder: str) -> bool:
    if redis is None:
        return True
    if await redis.set(key, holder, nx=True, px=TIMER_LEASE_MS):
        return True
    if await redis.get(key) == holder:
        await redis.pexpire(key, TIMER_LEASE_MS)
        return True
    return False


def setup_realtime(app: web.Application, settings: Settings, config: RoutingConfig) -> None:
    manager = (
        PublishingRedisManager(
            settings.redis_url,
            channel=settings.redis_prefix + "socketio",
            link=lambda: redis_link(settings),
            redis_options=redis_options(settings, subscriber=True),
        )
        if settings.redis_url
        else None
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        # cors_allowed_origins stays at its default: same origin only, so another site cannot
        # open a socket riding on a logged-in agent's cookie.
        # A little above the largest event payload, so oversized events are refused cleanly.
        max_http_buffer_size=MAX_PAYLOAD_BYTES * 2,
    )
    routing, registry, line_places, shared_redis = _shared_state(settings, config)

    def clock() -> float:
        return app[CLOCK]().timestamp()

    def servers_for(user: str) -> list[dict[str, Any]]:
        return ice_servers(
            settings.stun_urls,
            settings.turn_urls,
            settings.turn_secret,
            user,
            clock(),
            settings.turn_ttl_seconds,
        )

    class SocketEmitter:
        async def emit(self, event: str, data: Any, *, to: str, namespace: str) -> None:
            await sio.emit(event, data, to=to, namespace=namespace)

    hub = CallHub(
        routing,
        DatabaseCrm(app),
        SocketEmitter(),
        clock=clock,
        new_id=lambda: secrets.token_urlsafe(12),
        ice_servers=servers_for,
        config=HubConfig(wrap_up_seconds=config.wrap_up_seconds),
        registry=registry,
        supervision=DatabaseSupervision(app),
        routing_config=config,
        line_places=line_places,
    )

    async def staff_of(environ: dict[str, Any]) -> StaffIdentity | None:
        request: web.Request | None = environ.get("aiohttp.request")
        token = read_cookie(request, SESSION_COOKIE) if request is not None else None
        if not token:
            return None
        async with app[DB]() as db:
            staff = await find_session(db, token, app[CLOCK]())
        if staff is None:
            return None
        user = staff.user
        return StaffIdentity(
            str(user.id),
            user.role.value,
            user.display_name,
            Skills.of(user.categories, user.languages, user.sign_language),
            session_key=session_key(token),
            session_expires_at=staff.expires_at.timestamp(),
            language=pick_language(request) if request is not None else "ar",
        )

    def texts(language: str, code: str) -> str:
        return app[CATALOGS].gettext(language, f"error.{code}")

    # The buckets run on the app's clock, as the hub does (tests move it by hand).
    options: dict[str, Any] = {"caps": abuse_caps(settings), "texts": texts, "clock": clock}
    staff_namespaces = (
        AgentNamespace(hub, staff_of, **options),
        SupervisorNamespace(hub, staff_of, **options),
    )
    sio.register_namespace(CustomerNamespace(hub, settings.secret_key, **options))
    for namespace in staff_namespaces:
        sio.register_namespace(namespace)
    sio.attach(app)
    app[SIO], app[HUB] = sio, hub

    async def run_timers(app: web.Application) -> AsyncIterator[None]:
        holder = secrets.token_hex(8)
        lease = settings.redis_prefix + "timer-lease"

        async def tick_forever() -> None:
            said_alive = float("-inf")
            while True:
                try:
                    # Sockets are held per process, so each closes its own when their session ends.
                    for namespace in staff_namespaces:
                        await namespace.close_expired(clock())
                    # Every process says it is alive; the timer holder forgets those that stopped.
                    if time.monotonic() - said_alive >= ALIVE_EVERY_SECONDS:
                        await hub.registry.process_alive()
                        said_alive = time.monotonic()
                    if await _holds_timer_lease(shared_redis, lease, holder):
                        await hub.tick()
                except RedisError as exc:  # stalled or gone: one line, the next tick retries
                    log.warning("call hub tick skipped: Redis unavailable: %s", exc)
                except Exception:
                    log.exception("call hub tick failed")
                await asyncio.sleep(TICK_SECONDS)

        tasks = [asyncio.create_task(tick_forever())]
        # Several processes: relays are served from memory while this process hears of every
        # call that stops relaying (see RedisRegistry.relaying_call).
        subscriber = redis_client(settings, subscriber=True) if settings.redis_url else None
        if subscriber is not None and isinstance(registry, RedisRegistry):
            tasks.append(asyncio.create_task(registry.listen_for_moves(subscriber)))
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sio.shutdown()
        if subscriber is not None:
            await subscriber.aclose()
        if shared_redis is not None:
            await shared_redis.aclose()

    app.cleanup_ctx.append(run_timers)


async def close_staff_sockets(app: web.Application, token: str) -> int:
    """Disconnect every socket opened with this login session (on any process); how many."""
    sockets = await app[HUB].staff_sockets(session_key(token))
    for namespace, sid in sockets:
        await app[SIO].disconnect(sid, namespace=namespace)
    return len(sockets)
