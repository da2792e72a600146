"""The per-call upload caps (files and bytes) and the disk's reserve, held across processes.

A file is counted *before* its body is read: one conditional upsert reserves a place and the most
bytes the file may bring, so a burst of uploads on one call, in one process or several, cannot slip
between a check and a write. Once the file is stored the reservation is settled to its real size
(in the transaction that attaches it); a refused or failed upload gives its reservation back.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vbranch_server.db.models import CallUploads


@dataclass(frozen=True)
class UploadLimits:
    files_per_call: int
    bytes_per_call: int
    #: Below this much free space on the uploads' file system, no upload is accepted.
    min_free_disk_bytes: int


class UploadRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def too_many_files(limits: UploadLimits) -> UploadRefused:
    return UploadRefused(
        429, "too_many_files", f"a call may receive at most {limits.files_per_call} files"
    )


def too_many_bytes(limits: UploadLimits) -> UploadRefused:
    return UploadRefused(
        413,
        "call_uploads_too_large",
        f"the files of a call may total at most {limits.bytes_per_call} bytes",
    )


def refusal_for(files: int, used: int, incoming: int, limits: UploadLimits) -> UploadRefused:
    """Which cap a refused reservation hit (files first: another file would never fit)."""
    if files + 1 > limits.files_per_call:
        return too_many_files(limits)
    return too_many_bytes(limits)


def disk_too_full(free: int, incoming: int, minimum: int) -> bool:
    """Storing `incoming` more bytes would leave less than `minimum` free."""
    return free - incoming < minimum


def check_disk(folder: Path, incoming: int, limits: UploadLimits) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if disk_too_full(shutil.disk_usage(folder).free, incoming, limits.min_free_disk_bytes):
        raise UploadRefused(
            507, "insufficient_storage", "the server cannot store files now; try again later"
        )


async def reserve(db: AsyncSession, call_id: str, incoming: int, limits: UploadLimits) -> None:
    """Count one more file of at most `incoming` bytes, or raise UploadRefused: one statement."""
    if incoming > limits.bytes_per_call:
        raise too_many_bytes(limits)
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(CallUploads)
        .values(call_id=call_id, files=1, bytes=incoming)
        .on_conflict_do_update(
            index_elements=[CallUploads.call_id],
            set_={"files": CallUploads.files + 1, "bytes": CallUploads.bytes + incoming},
            # The row is locked for the update (PostgreSQL) or the database is (SQLite): two
            # reservations never both see the same count.
            where=(CallUploads.files + 1 <= limits.files_per_call)
            & (CallUploads.bytes + incoming <= limits.bytes_per_call),
        )
        .returning(CallUploads.files)
    )
    if (await db.execute(statement)).first() is not None:
        return
    # Refused: read the row only to say which cap it was; the decision is already taken.
    row = (
        await db.execute(select(CallUploads.files, CallUploads.bytes).filter_by(call_id=call_id))
    ).one()
    raise refusal_for(row.files, row.bytes, incoming, limits)


async def _give_back(db: AsyncSession, call_id: str, files: int, size: int) -> None:
    await db.execute(
        update(CallUploads)
        .where(CallUploads.call_id == call_id)
        .values(files=CallUploads.files - files, bytes=CallUploads.bytes - size)
    )


@dataclass
class Reservation:
    call_id: str
    incoming: int

    async def settle(self, db: AsyncSession, size: int) -> None:
        """The file is stored with `size` bytes: give back what was reserved beyond it."""
        if size < self.incoming:
            await _give_back(db, self.call_id, 0, self.incoming - size)


@asynccontextmanager
async def upload_reservation(
    sessions: async_sessionmaker[AsyncSession], call_id: str, incoming: int, limits: UploadLimits
) -> AsyncIterator[Reservation]:
    """A place for one file on the call, kept if the block succeeds, given back if it raises.

    Settle it in the block, in the transaction that stores the file, so both commit together.
    """
    async with sessions() as db, db.begin():
        await reserve(db, call_id, incoming, limits)
    try:
        yield Reservation(call_id, incoming)
    except BaseException:
        async with sessions() as db, db.begin():
            await _give_back(db, call_id, 1, incoming)
        raise
