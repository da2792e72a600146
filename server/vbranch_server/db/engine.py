"""The async engine and session factory for the configured database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from vbranch_server.private_files import private_file


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite leaves foreign keys off unless asked; WAL lets readers run beside the single writer,
    # and writers queue for the lock (up to 30 s) instead of failing at once under a burst.
    # synchronous=NORMAL is the setting WAL is designed for: a commit no longer waits for its own
    # fsync (the WAL is synced at each checkpoint), which made every call wait on the disk. The
    # database can never be corrupted by it; a power cut may lose the last moments of commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a sqlite URL (None for memory databases and file: URIs)."""
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _private_sqlite(path: Path) -> None:
    # SQLite gives the -wal and -shm files the database file's own mode, so creating the
    # database 0600 before SQLite opens it keeps all three private; older ones are fixed here.
    if path.parent.is_dir():
        private_file(path, create=True)
    for companion in ("-wal", "-shm", "-journal"):
        private_file(path.with_name(path.name + companion))


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        path = sqlite_file(database_url)
        if path is not None:
            _private_sqlite(path)
        if "poolclass" not in kwargs and ":memory:" not in database_url:
            # SQLite has one writer at a time. Several connections would contend inside SQLite,
            # whose busy handler sleeps 1 to 100 ms between retries; one connection makes
            # transactions queue in the pool instead and each starts the moment the last ends.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(database_url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
