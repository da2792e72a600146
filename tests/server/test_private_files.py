"""The data folder is the server's alone: folder 0700, secret key, SQLite files and uploads 0600,
whatever the umask, and a folder left readable by an older version is put right at start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from vbranch_server.db.engine import create_engine
from vbranch_server.settings import load_settings


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: any mode left to it would come out world-writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def _write_something(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:  # WAL and its index exist while a connection is open
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() >= 1
            db = Path(database_url.split("///", 1)[1])
            companions = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
            assert all(p.exists() for p in companions)
            assert [mode(p) for p in (db, *companions)] == [0o600] * 3
    finally:
        await engine.dispose()


async def test_a_new_data_folder_is_private_whatever_the_umask(
    tmp_path: Path, open_umask: None
) -> None:
    data = tmp_path / "data"
    settings = load_settings({"VBRANCH_DATA_DIR": str(data)})
    assert mode(data) == 0o700
    assert mode(settings.uploads_dir) == 0o700
    assert mode(data / "secret_key") == 0o600
    await _write_something(settings.database_url)


async def test_an_old_readable_data_folder_is_fixed_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    (data / "secret_key").write_text("k" * 48)
    db = data / "vbranch.db"
    for path in (db, data / "vbranch.db-wal", data / "vbranch.db-shm"):
        path.write_bytes(b"")
        path.chmod(0o644)
    (data / "secret_key").chmod(0o644)
    (data / "uploads").chmod(0o777)
    data.chmod(0o755)

    settings = load_settings({"VBRANCH_DATA_DIR": str(data)})
    assert settings.secret_key == "k" * 48  # kept, only its mode changed
    assert (mode(data), mode(data / "uploads"), mode(data / "secret_key")) == (0o700,) * 2 + (
        0o600,
    )
    await create_engine(settings.database_url).dispose()
    assert [mode(p) for p in data.glob("vbranch.db*")] == [0o600] * 3


def test_a_database_elsewhere_keeps_its_folder_alone(tmp_path: Path, open_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    create_engine(f"sqlite+aiosqlite:///{shared / 'other.db'}")
    assert mode(shared) == 0o755  # not ours to change
    assert mode(shared / "other.db") == 0o600
