"""The accepts of a batch of calls: continued tickets, new tickets, call records, a few
statements for the whole batch."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vbranch_server.crm.call_log import (
    CALLS,
    CUSTOMERS,
    TICKET_NOW_COLUMNS,
    TICKETS,
    CallAccepted,
    CallStart,
    CategoryTerms,
    Outcome,
    TicketNow,
)
from vbranch_server.crm.rules import hash_secret_code, new_secret_code
from vbranch_server.crm.tickets import deadlines_for, event_row, next_references
from vbranch_server.db.models import (
    TicketChannel,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
)

# Executemany: one round trip for all the batch's reassigned tickets.
_REASSIGN = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("ticket"))
    .values(assigned_agent_id=bindparam("agent"), updated_at=bindparam("at"))
)


async def _tickets_by_reference(
    db: AsyncConnection, references: Collection[str]
) -> dict[str, TicketNow]:
    if not references:
        return {}
    rows = await db.execute(
        select(TICKETS.c.reference, *TICKET_NOW_COLUMNS)
        .where(TICKETS.c.reference.in_(references))
        .order_by(TICKETS.c.id)
        .with_for_update()
    )
    return {reference: TicketNow(*now) for reference, *now in rows}


async def accept_calls(
    db: AsyncConnection,
    accepts: list[tuple[int, CallAccepted]],
    outcomes: list[Outcome],
    history: list[dict[str, Any]],
) -> None:
    """Records each accepted call: on its visit's ticket (which goes to the accepting agent) or
    on a new ticket. Sets each accept's outcome in `outcomes`; adds history lines to `history`."""
    continued = await _tickets_by_reference(
        db, {entry.ticket_reference for _, entry in accepts if entry.ticket_reference}
    )
    ticket_of: dict[int, int] = {}  # entry's place in the batch -> its ticket's id
    reassigned: list[dict[str, Any]] = []
    openings: list[tuple[int, CallAccepted, CategoryTerms]] = []
    for place, entry in accepts:
        start, reference = entry.start, entry.ticket_reference
        ticket = continued.get(reference) if reference else None
        if reference and ticket is not None:
            if ticket.assigned_agent_id != start.agent_id:
                ticket.assigned_agent_id = start.agent_id
                reassigned.append(
                    {"ticket": ticket.id, "agent": start.agent_id, "at": start.accepted_at}
                )
                history.append(
                    event_row(
                        ticket.id,
                        TicketEventKind.ASSIGNMENT,
                        start.accepted_at,
                        start.agent_id,
                        assigned_to_id=start.agent_id,
                    )
                )
            ticket_of[place] = ticket.id
            outcomes[place] = (reference, None)
        elif entry.terms is None:
            outcomes[place] = LookupError(f"unknown service category {entry.category!r}")
        else:
            openings.append((place, entry, entry.terms))
    if reassigned:
        await db.execute(_REASSIGN, reassigned)
    if openings:
        opened = await _open_tickets(db, [(e, terms) for _, e, terms in openings], history)
        for (place, _, _), (ticket_id, reference, code) in zip(openings, opened, strict=True):
            ticket_of[place] = ticket_id
            outcomes[place] = (reference, code)
    calls = [
        _call_row(ticket_of[place], entry.start) for place, entry in accepts if place in ticket_of
    ]
    if calls:
        await db.execute(insert(CALLS), calls)


def _call_row(ticket_id: int, start: CallStart) -> dict[str, Any]:
    return {
        "call_id": start.call_id,
        "ticket_id": ticket_id,
        "agent_id": start.agent_id,
        "visit_id": start.visit_id,
        "queue": start.queue,
        "enqueued_at": start.enqueued_at,
        "accepted_at": start.accepted_at,
        "wait_seconds": start.wait_seconds,
    }


async def _open_tickets(
    db: AsyncConnection,
    openings: list[tuple[CallAccepted, CategoryTerms]],
    history: list[dict[str, Any]],
) -> list[tuple[int, str, str]]:
    """New tickets for the callers, assigned to the accepting agents: (id, reference, code) each."""
    # First of the new tickets' writes: on SQLite the transaction holds the write lock from here.
    references = await _references(db, openings)
    customer_ids = await _inserted_ids(
        db,
        CUSTOMERS,
        [
            {
                "display_name": entry.caller.display_name,
                "phone": entry.caller.phone,
                "preferred_language": entry.caller.language,
                "created_at": entry.start.accepted_at,
            }
            for entry, _ in openings
        ],
    )
    codes = [new_secret_code() for _ in openings]
    tickets = []
    for (entry, terms), reference, code, customer_id in zip(
        openings, references, codes, customer_ids, strict=True
    ):
        now = entry.start.accepted_at
        deadlines = deadlines_for(
            terms.calendar, terms.first_response_working_days, terms.resolution_working_days, now
        )
        tickets.append(
            {
                "reference": reference,
                "secret_code_hash": hash_secret_code(code),
                "status": TicketStatus.NEW,
                "priority": TicketPriority.NORMAL,
                "channel": TicketChannel.VIDEO,
                "subject": "Video visit",
                "language": entry.caller.language,
                "category_id": terms.id,
                "customer_id": customer_id,
                "assigned_agent_id": entry.start.agent_id,
                "created_at": now,
                "updated_at": now,
                "first_response_due_at": deadlines.first_response_due_at,
                "resolution_due_at": deadlines.resolution_due_at,
                "resolution_at_risk_at": deadlines.resolution_at_risk_at,
            }
        )
    ticket_ids = await _inserted_ids(db, TICKETS, tickets, key=("reference",))
    for (entry, _), ticket_id in zip(openings, ticket_ids, strict=True):
        start = entry.start
        history.append(
            event_row(
                ticket_id,
                TicketEventKind.CREATED,
                start.accepted_at,
                start.agent_id,
                to_status=TicketStatus.NEW,
            )
        )
        history.append(
            event_row(
                ticket_id,
                TicketEventKind.ASSIGNMENT,
                start.accepted_at,
                start.agent_id,
                assigned_to_id=start.agent_id,
            )
        )
    return list(zip(ticket_ids, references, codes, strict=True))


async def _references(
    db: AsyncConnection, openings: list[tuple[CallAccepted, CategoryTerms]]
) -> list[str]:
    """A reference for each new ticket, numbered in the year of its service's office."""
    years = [
        entry.start.accepted_at.astimezone(terms.calendar.zone).year for entry, terms in openings
    ]
    numbered = {
        year: iter(await next_references(db, year, count)) for year, count in Counter(years).items()
    }
    return [next(numbered[year]) for year in years]


async def _inserted_ids(
    db: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    key: Sequence[str] | None = None,
) -> list[int]:
    """Inserts the rows with one multi-row INSERT; their new ids, in the order of `rows`.

    RETURNING promises no order, and SQLAlchemy's `sort_by_parameter_order` falls back on SQLite
    to one INSERT per row (ten times slower for a batch). So each returned row is matched back to
    its parameters by `key`: columns unique in the batch, or by default every column inserted,
    where rows alike in all of them are interchangeable.
    """
    columns = key or list(rows[0])
    result = await db.execute(
        insert(table).returning(table.c.id, *(table.c[name] for name in columns)), rows
    )
    places: defaultdict[tuple[Any, ...], list[int]] = defaultdict(list)
    for place, row in enumerate(rows):
        places[tuple(row[name] for name in columns)].append(place)
    ids = [0] * len(rows)
    for new_id, *values in result:
        ids[places[tuple(values)].pop(0)] = new_id
    return ids
