"""The rest of a batch of calls: media connected (first response), ends and wrap-ups (notes),
a few statements for the whole batch."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vbranch_server.crm.call_log import (
    CALLS,
    TICKET_NOW_COLUMNS,
    TICKETS,
    CallEnded,
    FollowUp,
    MediaConnected,
    TicketNow,
    WrapUpFinished,
)
from vbranch_server.crm.tickets import event_row
from vbranch_server.db.models import TicketEventKind, TicketStatus

# Executemany statements: one round trip for all the batch's rows of a kind.
_OPEN = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("ticket"))
    .values(status=TicketStatus.OPEN, first_response_at=bindparam("at"), updated_at=bindparam("at"))
)
_FIRST_RESPONSE = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("ticket"))
    .values(first_response_at=bindparam("at"))
)
_TOUCH = (
    update(TICKETS).where(TICKETS.c.id == bindparam("ticket")).values(updated_at=bindparam("at"))
)
_CONNECT_CALL = (
    update(CALLS).where(CALLS.c.call_id == bindparam("call")).values(connected_at=bindparam("at"))
)
_END_CALL = (
    update(CALLS)
    .where(CALLS.c.call_id == bindparam("call"))
    .values(
        ended_at=bindparam("at"),
        talk_seconds=bindparam("talk_seconds"),
        end_reason=bindparam("end_reason"),
    )
)
_WRAP_UP_CALL = (
    update(CALLS).where(CALLS.c.call_id == bindparam("call")).values(outcome=bindparam("outcome"))
)


async def _tickets_by_call(db: AsyncConnection, call_ids: Collection[str]) -> dict[str, TicketNow]:
    if not call_ids:
        return {}
    rows = await db.execute(
        select(CALLS.c.call_id, *TICKET_NOW_COLUMNS)
        .join_from(CALLS, TICKETS, CALLS.c.ticket_id == TICKETS.c.id)
        .where(CALLS.c.call_id.in_(call_ids))
        .order_by(TICKETS.c.id)
        .with_for_update(of=TICKETS)
    )
    # A ticket has one state however many of the batch's calls are on it.
    tickets: dict[int, TicketNow] = {}
    return {call_id: tickets.setdefault(now[0], TicketNow(*now)) for call_id, *now in rows}


def _note_of(entry: FollowUp) -> str | None:
    """The line the entry adds to its ticket's history, if any."""
    if isinstance(entry, CallEnded):
        return entry.note
    if isinstance(entry, WrapUpFinished):
        return entry.notes
    return None


async def follow_up_calls(
    db: AsyncConnection,
    entries: list[FollowUp],
    history: list[dict[str, Any]],
) -> None:
    """Marks connections, ends and wrap-ups on the call records, first responses and notes on
    their tickets; adds history lines to `history`."""
    # Only a connection or a note changes the ticket: the other entries need not read it.
    tickets = await _tickets_by_call(
        db, {e.call_id for e in entries if isinstance(e, MediaConnected) or _note_of(e)}
    )
    connected = [entry for entry in entries if isinstance(entry, MediaConnected)]
    ended = [entry for entry in entries if isinstance(entry, CallEnded)]
    wrapped_up = [entry for entry in entries if isinstance(entry, WrapUpFinished)]
    if connected:
        await db.execute(_CONNECT_CALL, [{"call": e.call_id, "at": e.at} for e in connected])
        await _first_responses(db, connected, tickets, history)
    if ended:
        await db.execute(
            _END_CALL,
            [
                {
                    "call": e.call_id,
                    "at": e.at,
                    "talk_seconds": e.talk_seconds,
                    "end_reason": e.end_reason,
                }
                for e in ended
            ],
        )
    if wrapped_up:
        await db.execute(
            _WRAP_UP_CALL, [{"call": e.call_id, "outcome": e.outcome} for e in wrapped_up]
        )
    # Notes on calls that have a record (and so a ticket), in call order.
    noting: list[CallEnded | WrapUpFinished] = [*ended, *wrapped_up]
    notes = [
        (tickets[e.call_id], note, e.agent_id, e.at)
        for e in noting
        if (note := _note_of(e)) and e.call_id in tickets
    ]
    if notes:
        await db.execute(_TOUCH, [{"ticket": ticket.id, "at": at} for ticket, _, _, at in notes])
        history += [
            event_row(ticket.id, TicketEventKind.NOTE, at, agent_id, body=body)
            for ticket, body, agent_id, at in notes
        ]


async def _first_responses(
    db: AsyncConnection,
    connected: list[MediaConnected],
    tickets: dict[str, TicketNow],
    history: list[dict[str, Any]],
) -> None:
    opened: list[dict[str, Any]] = []
    answered: list[dict[str, Any]] = []
    for entry in connected:
        ticket = tickets.get(entry.call_id)
        if ticket is None:
            continue  # no call record: nothing to mark
        if ticket.status is TicketStatus.NEW:
            ticket.status, ticket.first_response_at = TicketStatus.OPEN, entry.at
            opened.append({"ticket": ticket.id, "at": entry.at})
            history.append(
                event_row(
                    ticket.id,
                    TicketEventKind.STATUS_CHANGE,
                    entry.at,
                    entry.agent_id,
                    from_status=TicketStatus.NEW,
                    to_status=TicketStatus.OPEN,
                )
            )
        elif ticket.first_response_at is None:
            ticket.first_response_at = entry.at
            answered.append({"ticket": ticket.id, "at": entry.at})
    if opened:
        await db.execute(_OPEN, opened)
    if answered:
        await db.execute(_FIRST_RESPONSE, answered)
