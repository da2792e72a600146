"""The per-call upload caps under concurrent bursts (SQLite and PostgreSQL), and the disk's reserve.

Before these caps, 25 uploads of up to 10 MiB went onto one call, and 30 at once were all stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from vbranch_server.app import create_app
from vbranch_server.crm.upload_quota import (
    UploadLimits,
    UploadRefused,
    disk_too_full,
    refusal_for,
    reserve,
)
from vbranch_server.db.engine import create_engine, session_factory
from vbranch_server.db.models import Attachment, CallUploads

from .conftest import ROUTING
from .test_files import PDF, _call, _upload


async def _served(aiohttp_server, settings, clock, **changes: Any):  # type: ignore[no-untyped-def]
    return await aiohttp_server(
        create_app(dataclasses.replace(settings, **changes), clock=clock, routing=ROUTING)
    )


async def _stored(settings) -> tuple[int, tuple[int, int] | None]:  # type: ignore[no-untyped-def]
    """Attachments in the database, and the call's counted (files, bytes)."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            attachments = await db.scalar(select(func.count()).select_from(Attachment))
            row = (await db.execute(select(CallUploads.files, CallUploads.bytes))).first()
    finally:
        await engine.dispose()
    return int(attachments or 0), (row.files, row.bytes) if row else None


def _pdf(size: int) -> bytes:
    return PDF + b"\x00" * (size - len(PDF))


async def test_a_burst_of_30_uploads_on_one_call_stores_exactly_20(
    aiohttp_server, settings, clock, demo_data
) -> None:  # type: ignore[no-untyped-def]
    server = await _served(aiohttp_server, settings, clock)  # the defaults: 20 files, 50 MiB
    agent, customer, token, answer = await _call(server)
    try:
        results = await asyncio.gather(
            *(_upload(server, answer["call_id"], token, PDF, f"page{i}.pdf") for i in range(30))
        )
        outcome = Counter((status, body.get("error", {}).get("code")) for status, body in results)
        assert outcome == {(201, None): 20, (429, "too_many_files"): 10}, outcome
        assert await _stored(settings) == (20, (20, 20 * len(PDF)))
        assert len(list(settings.uploads_dir.iterdir())) == 20
        # The agent heard of each stored file, and of no other.
        shared = [await agent.next("file_shared") for _ in range(20)]
        assert len({s["attachment_id"] for s in shared}) == 20 and agent.pending("file_shared") == 0
    finally:
        await agent.close()
        await customer.close()


async def test_the_calls_bytes_are_capped_under_a_burst(
    aiohttp_server, settings, clock, demo_data
) -> None:  # type: ignore[no-untyped-def]
    server = await _served(
        aiohttp_server, settings, clock, upload_max_bytes=4096, upload_bytes_per_call=10_240
    )
    agent, customer, token, answer = await _call(server)
    call_id = answer["call_id"]
    try:
        results = await asyncio.gather(
            *(_upload(server, call_id, token, _pdf(3000), f"scan{i}.pdf") for i in range(10))
        )
        outcome = Counter((status, body.get("error", {}).get("code")) for status, body in results)
        # Three of 3,000 bytes fit in 10,240; a fourth never does, whatever the order.
        assert outcome == {(201, None): 3, (413, "call_uploads_too_large"): 7}, outcome
        # Settled to the real sizes: what the reservations held beyond them came back...
        assert await _stored(settings) == (3, (3, 9000))
        # ...so a small file still fits, and then a large one does not.
        assert (await _upload(server, call_id, token, _pdf(500)))[0] == 201
        status, body = await _upload(server, call_id, token, _pdf(3000))
        assert (status, body["error"]["code"]) == (413, "call_uploads_too_large")
        assert await _stored(settings) == (4, (4, 9500))
    finally:
        await agent.close()
        await customer.close()


async def test_refused_files_give_their_place_back(
    aiohttp_server, settings, clock, demo_data
) -> None:  # type: ignore[no-untyped-def]
    server = await _served(aiohttp_server, settings, clock, uploads_per_call=2)
    agent, customer, token, answer = await _call(server)
    call_id = answer["call_id"]
    try:
        # One after the other: while in flight, each holds a place (so a burst of them may see 429).
        refused = [await _upload(server, call_id, token, b"not a document") for _ in range(5)]
        assert {status for status, _ in refused} == {415}
        assert await _stored(settings) == (0, (0, 0))
        assert [(await _upload(server, call_id, token, PDF))[0] for _ in range(3)] == [
            201,
            201,
            429,
        ]
    finally:
        await agent.close()
        await customer.close()


async def test_no_upload_while_the_disk_is_below_its_reserve(
    aiohttp_server, settings, clock, demo_data
) -> None:  # type: ignore[no-untyped-def]
    # A reserve larger than any real disk: the disk is "full" for the uploads.
    server = await _served(aiohttp_server, settings, clock, min_free_disk_mb=1 << 30)
    agent, customer, token, answer = await _call(server)
    try:
        results = await asyncio.gather(
            *(_upload(server, answer["call_id"], token, PDF) for _ in range(5))
        )
        assert [(s, b["error"]["code"]) for s, b in results] == [(507, "insufficient_storage")] * 5
        assert await _stored(settings) == (0, None)
        assert list(settings.uploads_dir.iterdir()) == []
    finally:
        await agent.close()
        await customer.close()


@pytest.mark.redis
async def test_two_servers_on_one_redis_and_database_store_exactly_20(
    aiohttp_server, settings, clock, demo_data, redis_url
) -> None:  # type: ignore[no-untyped-def]
    """The call lives in Redis; a burst split over two server processes' apps counts once."""
    prefix = f"vbt-uploads-{uuid.uuid4().hex[:8]}:"
    shared = dataclasses.replace(settings, redis_url=redis_url, redis_prefix=prefix)
    servers = [await _served(aiohttp_server, shared, clock) for _ in range(2)]
    agent, customer, token, answer = await _call(servers[0])
    try:
        results = await asyncio.gather(
            *(_upload(servers[i % 2], answer["call_id"], token, PDF) for i in range(30))
        )
        by_server = Counter((i % 2, status) for i, (status, _) in enumerate(results))
        assert sum(n for (_, status), n in by_server.items() if status == 201) == 20, by_server
        assert {status for _, status in by_server} == {201, 429}
        assert by_server[(1, 201)] > 0  # the second server did store some
        assert await _stored(settings) == (20, (20, 20 * len(PDF)))
    finally:
        await agent.close()
        await customer.close()
        cleanup = Redis.from_url(redis_url)
        keys = [key async for key in cleanup.scan_iter(match=f"{prefix}*")]
        if keys:
            await cleanup.delete(*keys)
        await cleanup.aclose()


LIMITS = UploadLimits(files_per_call=20, bytes_per_call=50 * 1024 * 1024, min_free_disk_bytes=0)


async def test_reservations_from_two_connection_pools_count_once(settings) -> None:  # type: ignore[no-untyped-def]
    """Two processes (each with its own engine and pool) reserving on one call at once."""
    engines = [create_engine(settings.database_url) for _ in range(2)]
    factories = [session_factory(engine) for engine in engines]

    async def attempt(i: int) -> str:
        async with factories[i % 2]() as db, db.begin():
            try:
                await reserve(db, "call-1", 1000, LIMITS)
            except UploadRefused as exc:
                return exc.code
        return "reserved"

    try:
        results = Counter(await asyncio.gather(*(attempt(i) for i in range(30))))
        async with factories[0]() as db:
            row = (await db.execute(select(CallUploads.files, CallUploads.bytes))).one()
    finally:
        for engine in engines:
            await engine.dispose()
    assert results == {"reserved": 20, "too_many_files": 10}
    assert (row.files, row.bytes) == (20, 20_000)


def test_which_cap_and_the_disk_reserve() -> None:
    assert refusal_for(20, 0, 1, LIMITS).code == "too_many_files"
    assert refusal_for(3, LIMITS.bytes_per_call, 1, LIMITS).code == "call_uploads_too_large"
    assert disk_too_full(free=600, incoming=100, minimum=512)
    assert not disk_too_full(free=612, incoming=100, minimum=512)
