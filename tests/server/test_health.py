"""/healthz reports the database and Redis for real; /metrics speaks Prometheus."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vbranch_server.app import create_app
from vbranch_server.settings import Settings


def _closed_port() -> int:
    # Bind then release: nothing listens there for the length of the test.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_healthy_on_the_embedded_defaults(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "redis": "not_configured"}


@pytest.mark.redis
async def test_healthy_with_the_real_redis(
    aiohttp_client, settings: Settings, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(dataclasses.replace(settings, redis_url=redis_url)))
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["redis"] == "ok"


async def test_redis_down_is_503(aiohttp_client, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    down = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    client = await aiohttp_client(create_app(down))
    response = await client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {"status": "degraded", "database": "ok", "redis": "down"}


async def test_database_down_is_503(aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/none",
        redis_url=None,
        secret_key="k" * 40,
        data_dir=tmp_path,
    )
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["database"] == "down"


async def test_metrics_count_requests_by_route(client) -> None:  # type: ignore[no-untyped-def]
    await client.get("/healthz")
    await client.get("/api/tickets/VB-2026-000001")  # refused: no session
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }
    assert (
        samples[
            (
                "vbranch_http_requests_total",
                (("method", "GET"), ("route", "/healthz"), ("status", "200")),
            )
        ]
        == 1
    )
    # The route pattern, not the raw path: ids never explode the number of series.
    assert (
        samples[
            (
                "vbranch_http_requests_total",
                (("method", "GET"), ("route", "/api/tickets/{reference}"), ("status", "401")),
            )
        ]
        == 1
    )
