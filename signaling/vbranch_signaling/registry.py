"""Who is where: visits, call sessions, offers and reconnection grace.

`MemoryRegistry` serves the embedded one-process mode; `RedisRegistry` (redis_registry.py) holds the
same state for several processes. The hub talks only to the `Registry` interface below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from vbranch_queue.core.model import Needs
from vbranch_signaling.calls import CallSession, CallState


@dataclass(frozen=True)
class Visit:
    """A customer's visit: what they asked for and, once opened, the ticket behind it."""

    visit_id: str
    language: str
    display_name: str | None = None
    phone: str | None = None
    needs: Needs | None = None
    priority: int = 0
    enqueued_at: float | None = None
    ticket_reference: str | None = None
    secret_code: str | None = None
    call_id: str | None = None
    #: Left by the agent who transferred the customer, for the next agent.
    handoff_note: str | None = None
    #: The `call_ended` message once the call is over, to repeat to a customer who reconnects.
    ended: dict[str, Any] | None = None


class Registry(Protocol):
    async def get_visit(self, visit_id: str) -> Visit | None: ...
    async def put_visit(self, visit: Visit) -> None: ...
    async def drop_visit(self, visit_id: str) -> None: ...
    async def get_call(self, call_id: str) -> CallSession | None: ...
    async def call_for_offer(self, offer_id: str) -> CallSession | None: ...
    async def call_of_agent(self, agent_id: str) -> CallSession | None: ...
    async def put_call(self, call: CallSession) -> None: ...

    async def replace_call(self, old: CallSession, new: CallSession) -> bool:
        """Store `new` only if the call is still in `old`'s state: two processes (or a timer and
        a person) acting on one call at once cannot both move it."""

    async def open_calls(self) -> list[CallSession]: ...

    async def relaying_call(self, call_id: str) -> CallSession | None:
        """The call, for relaying `signal` and `chat` between its members; may come from a
        cache that every process's moves keep current (see RedisRegistry)."""

    async def start_grace(self, member: str, until: float) -> None: ...
    async def socket_opened(self, member: str, sid: str, limit: int | None = None) -> bool:
        """Count one more socket of the member, unless they have `limit` open already (then
        False, nothing changed): the check and the count are one step."""

    async def socket_closed(self, member: str, sid: str) -> int:
        """Forget one socket of the member; returns how many they still have open."""

    async def open_sockets(self, member: str) -> int: ...
    async def sockets_of(self, member: str) -> set[str]: ...

    async def process_alive(self) -> None:
        """Said every few seconds by each server process."""

    async def forget_dead_processes(self) -> list[str]:
        """Members whose last socket was held by a process that has stopped."""

    async def end_grace(self, member: str) -> bool: ...
    async def expired_graces(self, now: float) -> list[str]: ...
    async def waiting_visits(self) -> list[Visit]: ...
    async def all_visits(self) -> list[Visit]: ...


@dataclass
class MemoryRegistry:
    visits: dict[str, Visit] = field(default_factory=dict)
    calls: dict[str, CallSession] = field(default_factory=dict)
    call_by_offer: dict[str, str] = field(default_factory=dict)
    agent_call: dict[str, str] = field(default_factory=dict)
    #: Member ("customer:v1" / "agent:7") → the moment their grace period ends.
    grace: dict[str, float] = field(default_factory=dict)
    #: Member → their open sockets (a second tab, or a reconnection before the old one timed out).
    sockets: dict[str, set[str]] = field(default_factory=dict)

    async def get_visit(self, visit_id: str) -> Visit | None:
        return self.visits.get(visit_id)

    async def put_visit(self, visit: Visit) -> None:
        self.visits[visit.visit_id] = visit

    async def drop_visit(self, visit_id: str) -> None:
        self.visits.pop(visit_id, None)

    async def get_call(self, call_id: str) -> CallSession | None:
        return self.calls.get(call_id)

    async def relaying_call(self, call_id: str) -> CallSession | None:
        return self.calls.get(call_id)

    async def call_for_offer(self, offer_id: str) -> CallSession | None:
        call_id = self.call_by_offer.get(offer_id)
        return None if call_id is None else self.calls.get(call_id)

    async def call_of_agent(self, agent_id: str) -> CallSession | None:
        call_id = self.agent_call.get(agent_id)
        return None if call_id is None else self.calls.get(call_id)

    async def put_call(self, call: CallSession) -> None:
        self.calls[call.call_id] = call
        self.call_by_offer[call.offer_id] = call.call_id
        if call.state is CallState.DONE:
            self._forget(call)
        else:
            self.agent_call[call.agent_id] = call.call_id

    def _forget(self, call: CallSession) -> None:
        self.calls.pop(call.call_id, None)
        self.call_by_offer.pop(call.offer_id, None)
        if self.agent_call.get(call.agent_id) == call.call_id:
            del self.agent_call[call.agent_id]

    async def replace_call(self, old: CallSession, new: CallSession) -> bool:
        current = self.calls.get(old.call_id)
        if current is None or current.state is not old.state:
            return False
        await self.put_call(new)
        return True

    async def open_calls(self) -> list[CallSession]:
        return list(self.calls.values())

    async def start_grace(self, member: str, until: float) -> None:
        self.grace[member] = until

    async def socket_opened(self, member: str, sid: str, limit: int | None = None) -> bool:
        open_ones = self.sockets.setdefault(member, set())
        if limit is not None and sid not in open_ones and len(open_ones) >= limit:
            return False
        open_ones.add(sid)
        return True

    async def socket_closed(self, member: str, sid: str) -> int:
        open_ones = self.sockets.get(member, set())
        open_ones.discard(sid)
        if not open_ones:
            self.sockets.pop(member, None)
        return len(open_ones)

    async def open_sockets(self, member: str) -> int:
        return len(self.sockets.get(member, ()))

    async def sockets_of(self, member: str) -> set[str]:
        return set(self.sockets.get(member, ()))

    async def process_alive(self) -> None:
        pass  # one process: it is alive while it runs

    async def forget_dead_processes(self) -> list[str]:
        return []

    async def end_grace(self, member: str) -> bool:
        """True if the member was within their grace period (and now is back)."""
        return self.grace.pop(member, None) is not None

    async def expired_graces(self, now: float) -> list[str]:
        expired = [m for m, until in self.grace.items() if until <= now]
        for member in expired:
            del self.grace[member]
        return expired

    async def waiting_visits(self) -> list[Visit]:
        return [v for v in self.visits.values() if v.needs is not None and v.call_id is None]

    async def all_visits(self) -> list[Visit]:
        return list(self.visits.values())
