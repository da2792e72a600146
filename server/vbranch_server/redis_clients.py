"""Every Redis client of a process, made from the same settings: the pipelined link (queue,
registry, timer lease, Socket.IO's publishing), redis-py for the limits, the health check and
subscriptions. One place, so a password, the TLS files, the timeout and TCP keepalive reach all
of them alike.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from vbranch_queue.redis_link import ConnectionDropped, RedisLink, keepalive_options
from vbranch_server.settings import ConfigError, Settings

log = logging.getLogger(__name__)


def _tls_files(settings: Settings) -> dict[str, str]:
    files = {
        "ssl_ca_certs": settings.redis_ca_file,
        "ssl_certfile": settings.redis_cert_file,
        "ssl_keyfile": settings.redis_key_file,
    }
    return {name: str(path) for name, path in files.items() if path is not None}


def redis_options(settings: Settings, *, subscriber: bool = False) -> dict[str, Any]:
    """redis-py's keyword arguments. A subscriber waits for messages as long as none come, so
    only its connecting is timed; keepalive still finds a dead peer."""
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_timeout_seconds,
        **_tls_files(settings),
    }
    if not (settings.redis_url or "").startswith("unix://"):  # TCP only (a unix socket refuses)
        options["socket_keepalive"] = True
        options["socket_keepalive_options"] = keepalive_options()
    if not subscriber:
        options["socket_timeout"] = settings.redis_timeout_seconds
    return options


def redis_client(settings: Settings, *, subscriber: bool = False) -> Redis:
    assert settings.redis_url is not None
    return Redis.from_url(settings.redis_url, **redis_options(settings, subscriber=subscriber))


def redis_link(settings: Settings) -> RedisLink:
    assert settings.redis_url is not None
    try:
        return RedisLink.from_url(
            settings.redis_url, timeout=settings.redis_timeout_seconds, **_tls_files(settings)
        )
    except (ssl.SSLError, OSError) as exc:  # a certificate or key that does not load
        raise ConfigError(
            f"VBRANCH_REDIS_CA_FILE, VBRANCH_REDIS_CERT_FILE, VBRANCH_REDIS_KEY_FILE: {exc}"
        ) from None


def _refused_tls(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def check_redis(settings: Settings) -> None:
    """At start-up, through both clients. Refused credentials or certificates are configuration
    errors: the process stops and says which. A Redis merely unreachable is not: the process
    serves (health says 503) and connects when Redis is back."""
    link, client = redis_link(settings), redis_client(settings)
    try:
        for check in (link.ping, client.ping):
            await check()
    except (AuthenticationError, ResponseError) as exc:
        raise ConfigError(f"REDIS_URL: Redis refused the connection: {exc}") from None
    except RedisError as exc:
        refused = _refused_tls(exc)
        tls = settings.redis_url is not None and settings.redis_url.startswith("rediss://")
        if refused is not None or (tls and isinstance(exc, ConnectionDropped)):
            reason = refused.reason or refused if refused else "Redis closed the connection"
            raise ConfigError(
                f"REDIS_URL: the TLS handshake with Redis failed ({reason}): check "
                "VBRANCH_REDIS_CA_FILE, VBRANCH_REDIS_CERT_FILE and VBRANCH_REDIS_KEY_FILE"
            ) from None
        log.warning("Redis does not answer yet (%s): serving, and connecting when it does", exc)
    finally:
        await link.aclose()
        await client.aclose()
