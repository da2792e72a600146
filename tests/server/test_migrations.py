"""Migrations from an empty database, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from vbranch_server.db.engine import create_engine
from vbranch_server.db.migrate import current_revision, head_revision, upgrade_async
from vbranch_server.db.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_postgres_url")


async def test_upgrade_from_empty_matches_the_models(empty_database: str) -> None:
    await upgrade_async(empty_database)
    engine = create_engine(empty_database)
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert diff == [], "the models and the migrations disagree: write a migration"


async def test_upgrade_twice_is_harmless(empty_database: str) -> None:
    await upgrade_async(empty_database)
    await upgrade_async(empty_database)


async def test_constraints_hold_in_the_database(empty_database: str) -> None:
    await upgrade_async(empty_database)
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calendars (name, timezone, weekly_hours) "
                    "VALUES ('C', 'UTC', '{\"mon\": [[\"08:00\", \"16:00\"]]}')"
                )
            )
        insert_category = (
            "INSERT INTO service_categories (code, name_ar, name_en, required_skills, "
            "required_documents, calendar_id, resolution_working_days, "
            "first_response_working_days, active) "
            "VALUES (:code, 'ا', 'a', '[]', '[]', 1, :days, 1, true)"
        )
        async with engine.begin() as conn:
            await conn.execute(text(insert_category), {"code": "ok", "days": 10})
        # Above 10 working days is refused by the database itself, not only by the code.
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(insert_category), {"code": "slow", "days": 11})
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO staff_users (username, display_name, password_hash, role, "
                        "languages, categories, sign_language, active, created_at) VALUES "
                        "('x', 'x', 'h', 'superuser', '[]', '[]', false, true, CURRENT_TIMESTAMP)"
                    )
                )
    finally:
        await engine.dispose()


async def test_ticket_history_is_append_only(empty_database: str) -> None:
    await upgrade_async(empty_database)
    engine = create_engine(empty_database)
    now = "CURRENT_TIMESTAMP"
    try:
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO calendars (name, timezone, weekly_hours) VALUES ('C', 'UTC', '{}')",
                "INSERT INTO service_categories (code, name_ar, name_en, required_skills, "
                "required_documents, calendar_id, resolution_working_days, "
                "first_response_working_days, active) VALUES ('c', 'ا', 'a', '[]', '[]', 1, 3, 1, true)",
                f"INSERT INTO customers (preferred_language, created_at) VALUES ('ar', {now})",
                "INSERT INTO tickets (reference, secret_code_hash, status, priority, channel, "
                "subject, language, category_id, customer_id, created_at, updated_at, "
                "first_response_due_at, resolution_due_at, resolution_at_risk_at) VALUES "
                f"('VB-2026-000001', 'h', 'new', 'normal', 'video', 's', 'ar', 1, 1, {now}, {now}, "
                f"{now}, {now}, {now})",
                f"INSERT INTO ticket_events (ticket_id, kind, body, created_at) VALUES (1, 'note', 'first', {now})",
            ):
                await conn.execute(text(statement))
        for statement in (
            "UPDATE ticket_events SET body = 'rewritten'",
            "DELETE FROM ticket_events",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            assert (
                await conn.execute(text("SELECT body FROM ticket_events"))
            ).scalar_one() == "first"
    finally:
        await engine.dispose()
