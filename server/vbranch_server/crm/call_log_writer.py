"""Group commit for the call log: one task writes every pending entry in one transaction.

Each call writes four entries, and a transaction per entry cost the server most of its database
time in per-statement overhead. Here callers submit an entry and wait; the writer takes all the
entries pending (up to `BATCH_LIMIT`), writes them with `write_entries` and answers each
caller once the batch is committed. No waiting for a batch to fill: entries that arrive while one
batch is written form the next, so a lone call is written at once and a burst shares commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vbranch_server.crm.call_log import (
    EVENTS,
    CallAccepted,
    CallLogEntry,
    FollowUp,
    Opened,
    Outcome,
)
from vbranch_server.crm.call_log_accepts import accept_calls
from vbranch_server.crm.call_log_follow_ups import follow_up_calls

log = logging.getLogger(__name__)

#: Enough to share one commit among a burst, small enough to keep the batch's transaction short
#: (on SQLite, other requests wait for the one connection meanwhile).
BATCH_LIMIT = 200


async def write_entries(db: AsyncConnection, entries: Sequence[CallLogEntry]) -> list[Outcome]:
    """Writes a batch in call order (accepts, connections, ends, wrap-ups) and returns each
    entry's outcome. The batch's entries were all pending at once, none waiting on another, so
    this order is one the entries could have come in. A database error raises: roll back."""
    outcomes: list[Outcome] = [None] * len(entries)
    history: list[dict[str, Any]] = []
    accepts = [(i, entry) for i, entry in enumerate(entries) if isinstance(entry, CallAccepted)]
    if accepts:
        await accept_calls(db, accepts, outcomes, history)
    follow_ups: list[FollowUp] = [e for e in entries if not isinstance(e, CallAccepted)]
    if follow_ups:
        await follow_up_calls(db, follow_ups, history)
    if history:  # the whole batch's history lines in one statement
        await db.execute(insert(EVENTS), history)
    return outcomes


class CallLogClosed(RuntimeError):
    """The writer is shut down (or stopped by a fault): this entry was not written."""


@dataclass(frozen=True)
class _Job:
    entry: CallLogEntry
    outcome: asyncio.Future[Opened | None]


class CallLogWriter:
    """The one task that writes the call log; `start` it with the database, `close` it before."""

    def __init__(self, engine: AsyncEngine, *, batch_limit: int = BATCH_LIMIT) -> None:
        self._engine = engine
        self._batch_limit = batch_limit
        self._pending: deque[_Job] = deque()
        self._writing: list[_Job] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Why entries are refused: set at shutdown, or when the writer task died.
        self._refusal: str | None = "the call log writer is not started"

    def start(self) -> None:
        self._refusal = None
        self._task = asyncio.create_task(self._run(), name="call log writer")
        self._task.add_done_callback(self._stopped)

    async def write(self, entry: CallLogEntry) -> Opened | None:
        """Writes the entry; returns once it is committed. Raises what refused it."""
        if self._refusal is not None:
            raise CallLogClosed(self._refusal)
        job = _Job(entry, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._wakeup.set()
        # If the caller is cancelled, its entry is still written: the call did happen.
        return await job.outcome

    async def close(self) -> None:
        """Writes every entry submitted so far, then stops; later entries are refused."""
        self._closing = True
        if self._refusal is None:
            self._refusal = "the call log writer is shut down"
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                count = min(len(self._pending), self._batch_limit)
                self._writing = [self._pending.popleft() for _ in range(count)]
                await self._write(self._writing)
                self._writing = []
            if self._closing:
                return

    async def _write(self, batch: list[_Job]) -> None:
        try:
            outcomes = await self._commit(batch)
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                # One bad entry (a duplicate call id, a lock timeout) must not fail the others:
                # each is written alone, and only one that fails again gets the error.
                log.warning("call log batch of %d failed (%r): writing each alone", len(batch), exc)
                outcomes = [await self._alone(job) for job in batch]
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.outcome.done():
                continue  # the caller was cancelled: nobody to tell
            if isinstance(outcome, Exception):
                job.outcome.set_exception(outcome)
            else:
                job.outcome.set_result(outcome)

    async def _commit(self, batch: list[_Job]) -> list[Outcome]:
        async with self._engine.begin() as db:
            return await write_entries(db, [job.entry for job in batch])

    async def _alone(self, job: _Job) -> Outcome:
        try:
            [outcome] = await self._commit([job])
        except Exception as exc:
            return exc
        return outcome

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            fault: BaseException | None = asyncio.CancelledError()
        else:
            fault = task.exception()
        if fault is not None:
            log.error("the call log writer stopped", exc_info=fault)
            self._refusal = f"the call log writer stopped: {fault!r}"
        # Entries caught by the stop (none after a clean shutdown) fail now rather than hang.
        for job in [*self._writing, *self._pending]:
            if not job.outcome.done():
                refused = CallLogClosed(self._refusal or "the call log writer stopped")
                refused.__cause__ = fault
                job.outcome.set_exception(refused)
        self._writing, self._pending = [], deque()
