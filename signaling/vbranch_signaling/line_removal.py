"""A supervisor takes a waiting customer out of the line (a made-up customer, a duplicate visit...).

The routing store decides, in one atomic step: `leave` removes the customer if they are still in
line (waiting, or offered to an agent who has not yet accepted) and counts them as abandoned, never
as served. Everything else follows from that answer: the agent holding the offer hears it is
withdrawn, the customer is told why, and the audit log records who did it and when. A customer an
agent has already accepted is no longer in line, so the store refuses and nothing changes.
"""

from __future__ import annotations

from typing import Any

from vbranch_signaling.calls import CallEnd, CallState
from vbranch_signaling.hub import CallHub, HubError, customer
from vbranch_signaling.line_places import give_back

#: The `reason` of `removed_from_line` (to the customer) and of `offer_withdrawn` (to the agent).
REMOVED_BY_STAFF = "removed_by_staff"
#: The audit log's name for the action.
ACTION = "remove_from_line"


async def remove_from_line(hub: CallHub, customer_id: str, *, by: str) -> dict[str, Any]:
    """`by`: the supervisor's staff id. Raises HubError("not_waiting") when not in line."""
    # Read before the decision, only for the audit's details (the line they were in).
    visit = await hub.registry.get_visit(customer_id)
    left = await hub.routing.leave(customer_id, hub.clock())
    if not left.abandoned:
        raise HubError("not_waiting", "that customer is not waiting in a line")
    # The hub's own steps, so a removal notifies and cleans up as a customer's own leaving does.
    for call in await hub.registry.open_calls():
        if call.customer_id == customer_id and call.state is CallState.OFFERED:
            await hub._withdraw(call, CallEnd.ABANDONED, REMOVED_BY_STAFF)
    await hub._offered(left.offers)  # the agent freed from the offer may take the next customer
    await hub.registry.drop_visit(customer_id)
    await give_back(hub.line_places, customer_id)  # their address may queue again
    hub._last_positions.pop(customer_id, None)
    await hub._emit(customer(customer_id), "removed_from_line", {"reason": REMOVED_BY_STAFF})
    needs = visit.needs if visit is not None else None
    await hub._audit(by, ACTION, customer_id, {"queue": needs.bucket if needs else None})
    return {}
