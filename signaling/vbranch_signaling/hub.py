"""The call hub: joins the routing engine, the call sessions, the CRM and the connected browsers.

Namespaces validate and authenticate, then call one hub method; the hub decides, records and emits.
Timers (offer and connect timeouts, wrap-up ends, reconnection grace) fire from `tick`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from vbranch_queue.core.model import AgentState, Needs, Offer, RoutingConfig, Skills
from vbranch_queue.errors import AgentBusy, RoutingError
from vbranch_queue.store import RoutingStore, Snapshot
from vbranch_signaling.calls import (
    CallEnd,
    CallSession,
    CallState,
    accepted,
    connected,
    ended_early,
    hung_up,
    wrapped_up,
)
from vbranch_signaling.line_places import LinePlaces, MemoryLinePlaces, give_back, place_in_line
from vbranch_signaling.registry import MemoryRegistry, Registry, Visit
from vbranch_signaling.schemas import Chat, FinishWrapUp, Join, Signal, Transfer

log = logging.getLogger(__name__)

CUSTOMER_NS, AGENT_NS, SUPERVISOR_NS = "/customer", "/agent", "/supervisor"
SUPERVISORS_ROOM = "supervisors"
DEFAULT_GRACE_SECONDS = 30.0
STATS_INTERVAL_SECONDS = 1.0


#: A push to many sockets (positions, states) yields to the event loop after this many messages.
PUSH_SLICE = 50


async def _let_others_run(sent: int) -> None:
    """Emitting to a local socket does not wait, so a push to hundreds of people would otherwise
    run as one block and hold up every `signal` relayed meanwhile."""
    if sent % PUSH_SLICE == 0:
        await asyncio.sleep(0)


#: The position of a customer with an open offer (`Position.offered`: place 0, no wait).
OFFERED = {"position": 0, "estimated_wait_seconds": 0.0}


class HubError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Member:
    role: Literal["customer", "agent"]
    id: str

    @property
    def room(self) -> str:
        return f"{self.role}:{self.id}"

    @property
    def namespace(self) -> str:
        return CUSTOMER_NS if self.role == "customer" else AGENT_NS


def customer(visit_id: str) -> Member:
    return Member("customer", visit_id)


def agent(agent_id: str) -> Member:
    return Member("agent", agent_id)


class Emitter(Protocol):
    async def emit(self, event: str, data: Any, *, to: str, namespace: str) -> None: ...


class Crm(Protocol):
    """What the hub needs from the CRM; the server implements it on the database."""

    async def has_category(self, code: str) -> bool: ...

    async def service_open(self, code: str) -> bool:
        """Whether the service's business hours include this moment."""

    async def agent_name(self, agent_id: str) -> str: ...

    async def open_ticket(self, call: CallSession, visit: Visit) -> tuple[str, str | None]:
        """The ticket behind the call: the visit's own if it has one, else a new one.
        Returns its reference and, for a new ticket, the customer's secret code."""

    async def call_connected(self, call: CallSession) -> None: ...

    async def call_ended(self, call: CallSession, note: str | None) -> None: ...

    async def wrap_up_finished(
        self, call: CallSession, outcome: str | None, notes: str | None
    ) -> None: ...


@dataclass(frozen=True)
class HubConfig:
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    wrap_up_seconds: float = 30.0


def _as_shown(position: dict[str, Any]) -> tuple[Any, ...]:
    """What the customer's page shows of a position: the place and the wait in whole minutes.

    The estimate (in seconds) moves a little with every call anywhere in the line; sending each
    waiting customer a message every second for a change nobody can see cost more than the calls.
    """
    wait = position["estimated_wait_seconds"]
    return (position["position"], None if wait is None else max(1, round(wait / 60)))


class CallHub:
    def __init__(
        self,
        routing: RoutingStore,
        crm: Crm,
        emitter: Emitter,
        *,
        clock: Callable[[], float],
        new_id: Callable[[], str],
        ice_servers: Callable[[str], list[dict[str, Any]]],
        config: HubConfig | None = None,
        registry: Registry | None = None,
        supervision: Supervision | None = None,
        routing_config: RoutingConfig | None = None,
        line_places: LinePlaces | None = None,
    ) -> None:
        self.routing, self.crm, self.emitter = routing, crm, emitter
        self.clock, self.new_id, self.ice_servers = clock, new_id, ice_servers
        self.config = config or HubConfig()
        self.registry: Registry = registry or MemoryRegistry()
        #: What each waiting customer was last told of their place (see `_as_shown`).
        self._last_positions: dict[str, tuple[Any, ...]] = {}
        #: What each agent was last told of their own state, by a push, an event or an answer.
        self._last_agent_states: dict[str, AgentState] = {}
        self._last_push = float("-inf")
        #: Where supervisor actions are audited and queues sampled (None: nowhere, e.g. a bench).
        self.supervision = supervision
        #: The routing engine's service-level thresholds, shown beside each queue's figures.
        self.routing_config = routing_config or RoutingConfig()
        self._last_sample_minute: int | None = None
        #: Places in line held per client address (see line_places.py); uncapped by default.
        self.line_places: LinePlaces = line_places or MemoryLinePlaces(None)

    # --- helpers ---------------------------------------------------------------------------

    async def _emit(self, member: Member, event: str, data: dict[str, Any]) -> None:
        await self.emitter.emit(event, data, to=member.room, namespace=member.namespace)

    def _told_state(self, agent_id: str, state: AgentState) -> None:
        """The agent learnt this state from an event or an answer (an offer, `accept`'s answer,
        `call_ended`...): the timer's push of state changes need not say it again. That push was
        two messages per call, a fifth of all a call sends."""
        self._last_agent_states[agent_id] = state

    async def _call_ended_for_agent(self, call: CallSession, reason: str | None) -> None:
        await self._emit(
            agent(call.agent_id), "call_ended", {"call_id": call.call_id, "reason": reason}
        )
        self._told_state(call.agent_id, AgentState.WRAP_UP)  # call_ended starts the wrap-up

    async def _offered(self, offers: list[Offer], visit: Visit | None = None) -> None:
        """`visit`: the customer's visit when the caller has just stored it (saves a read)."""
        now = self.clock()
        for offer in offers:
            call = CallSession(
                call_id=self.new_id(),
                customer_id=offer.customer_id,
                agent_id=offer.agent_id,
                offer_id=offer.offer_id,
                bucket=offer.needs.bucket,
                enqueued_at=offer.enqueued_at,
                offered_at=now,
                offer_expires_at=offer.expires_at,
            )
            await self.registry.put_call(call)
            await self._send_offer(
                call, visit if visit and visit.visit_id == offer.customer_id else None
            )
            self._told_state(offer.agent_id, AgentState.OFFERED)

    async def _send_offer(self, call: CallSession, visit: Visit | None = None) -> None:
        now = self.clock()
        visit = visit or await self.registry.get_visit(call.customer_id)
        needs = Needs.from_bucket(call.bucket)
        await self._emit(
            agent(call.agent_id),
            "offer",
            {
                "offer_id": call.offer_id,
                "expires_at": call.offer_expires_at,
                "timeout_seconds": max(0.0, call.offer_expires_at - now),
                "waited_seconds": max(0.0, now - call.enqueued_at),
                "customer": {
                    "display_name": visit.display_name if visit else None,
                    "language": needs.language,
                    "category": needs.category,
                    "sign_language": needs.sign_language,
                    "handoff_note": visit.handoff_note if visit else None,
                    "ticket_reference": visit.ticket_reference if visit else None,
                },
            },
        )

    async def _move(self, old: CallSession, new: CallSession) -> None:
        """Store a transition, or refuse it if someone else moved the call first."""
        if not await self.registry.replace_call(old, new):
            raise HubError("wrong_state", "the call changed meanwhile")

    async def _withdraw(self, call: CallSession, end: CallEnd, reason: str) -> None:
        if not await self.registry.replace_call(call, ended_early(call, self.clock(), end)):
            return  # already withdrawn or answered elsewhere
        await self._emit(
            agent(call.agent_id), "offer_withdrawn", {"offer_id": call.offer_id, "reason": reason}
        )

    async def _call_of(
        self, member: Member, call_id: str, *states: CallState, relay: bool = False
    ) -> CallSession:
        """`relay`: only to pass a message on; the call may come from the relay cache."""
        call = await (self.registry.relaying_call if relay else self.registry.get_call)(call_id)
        own = call is not None and (
            call.customer_id == member.id
            if member.role == "customer"
            else call.agent_id == member.id
        )
        if call is None or not own:
            raise HubError("not_in_call", "you are not in this call")
        if states and call.state not in states:
            raise HubError("wrong_state", f"the call is {call.state}")
        return call

    async def _visit(self, visit_id: str) -> Visit:
        visit = await self.registry.get_visit(visit_id)
        if visit is None:
            raise HubError("unknown_customer", "no such visit")
        return visit

    async def position_of(self, visit_id: str) -> dict[str, Any]:
        position = await self.routing.position(visit_id, self.clock())
        if position is None:
            return {"position": None, "estimated_wait_seconds": None}
        return {
            "position": position.position,
            "estimated_wait_seconds": position.estimated_wait_seconds,
        }

    async def _requeue_front(self, visit: Visit, needs: Needs, reason: str) -> None:
        """Back in line at the front, with the same ticket and the original join time."""
        now = self.clock()
        visit = replace(visit, needs=needs, call_id=None)
        await self.registry.put_visit(visit)
        offer = await self.routing.join(
            visit.visit_id,
            needs,
            visit.priority,
            now,
            enqueued_at=visit.enqueued_at,
            front=True,
        )
        if offer is not None:
            await self._offered([offer], visit)
        await self._emit(
            customer(visit.visit_id),
            "requeued",
            {"reason": reason, **await self.position_of(visit.visit_id)},
        )

    async def _end_for_agent(self, call: CallSession) -> list[Offer]:
        try:
            return await self.routing.end_call(call.agent_id, self.clock())
        except AgentBusy:
            return []

    # --- customers ------------------------------------------------------------------------

    async def customer_join(
        self, visit_id: str, language: str, join: Join, address: str | None = None
    ) -> dict[str, Any]:
        """`address`: the key the visit's places in line count against (from its token)."""
        if not await self.crm.has_category(join.category):
            raise HubError("invalid_payload", f"unknown service category {join.category!r}")
        # Outside its hours the page offers a request instead; the line itself is closed too.
        # (Transfers and supervisors' moves are staff decisions and may still use it.)
        if not await self.crm.service_open(join.category):
            raise HubError("service_closed", "this service is closed now; leave a request instead")
        now = self.clock()
        visit = await self.registry.get_visit(visit_id) or Visit(visit_id, language)
        if visit.call_id is not None:
            raise HubError("already_queued", "you are already in a call")
        needs = Needs(join.category, join.language, join.sign_language)
        try:
            async with place_in_line(self.line_places, address, visit_id, now):
                offer = await self.routing.join(visit_id, needs, visit.priority, now)
        except RoutingError as exc:
            raise HubError(exc.code, exc.message) from None
        visit = replace(
            visit,
            needs=needs,
            display_name=join.display_name,
            phone=join.phone,
            enqueued_at=now,
            ended=None,
        )
        await self.registry.put_visit(visit)
        if offer is not None:
            await self._offered([offer], visit)
        if offer is not None and offer.customer_id == visit_id:
            position = dict(OFFERED)  # what the routing store would say; no need to ask
        else:
            position = await self.position_of(visit_id)
        if position["position"] is not None:
            self._last_positions[visit_id] = _as_shown(position)  # the answer tells it
        return position

    async def customer_leave(self, visit_id: str) -> dict[str, Any]:
        visit = await self.registry.get_visit(visit_id)
        if visit is not None and visit.call_id is not None:
            call = await self.registry.get_call(visit.call_id)
            if call is not None and call.state in {CallState.CONNECTING, CallState.IN_CALL}:
                await self.hang_up(customer(visit_id), call.call_id)
                return {"abandoned": False}
        for call in await self.registry.open_calls():
            if call.customer_id == visit_id and call.state is CallState.OFFERED:
                await self._withdraw(call, CallEnd.ABANDONED, "customer_left")
        left = await self.routing.leave(visit_id, self.clock())
        await give_back(self.line_places, visit_id)
        await self._offered(left.offers)
        await self.registry.drop_visit(visit_id)
        self._last_positions.pop(visit_id, None)
        return {"abandoned": left.abandoned}

    # --- agents ---------------------------------------------------------------------------

    async def agent_ready(self, agent_id: str, skills: Skills) -> None:
        await self._offered(await self.routing.upsert_agent(agent_id, skills, self.clock()))

    async def set_availability(
        self, agent_id: str, state: str, *, by_agent: bool = True
    ) -> dict[str, Any]:
        """`by_agent`: the agent asked and the answer tells them; else (a supervisor, a lost
        connection) the timer's push does."""
        target = AgentState(state)
        offered = await self._open_offer_of(agent_id)
        try:
            offers = await self.routing.set_agent_state(agent_id, target, self.clock())
        except RoutingError as exc:
            raise HubError(exc.code, exc.message) from None
        if offered is not None and target is not AgentState.AVAILABLE:
            await self._withdraw(offered, CallEnd.NOT_ANSWERED, "agent_left")
        if by_agent:
            self._told_state(agent_id, target)
        await self._offered(offers)
        return {"state": target.value}

    async def _open_offer_of(self, agent_id: str) -> CallSession | None:
        call = await self.registry.call_of_agent(agent_id)
        return call if call is not None and call.state is CallState.OFFERED else None

    async def accept(self, agent_id: str, offer_id: str) -> dict[str, Any]:
        call = await self.registry.call_for_offer(offer_id)
        if call is None or call.state is not CallState.OFFERED:
            raise HubError("unknown_offer", "this offer is no longer open")
        if call.agent_id != agent_id:
            raise HubError("not_your_offer", "this offer was made to another agent")
        now = self.clock()
        visit = await self._visit(call.customer_id)
        # Claim the session first: a timer that withdraws the offer meanwhile then fails its
        # compare-and-set instead of racing this accept.
        offered, call = call, accepted(call, now)
        await self._move(offered, call)
        try:
            await self.routing.accept(offer_id, agent_id, now)
        except RoutingError as exc:
            await self.registry.replace_call(call, replace(offered, state=CallState.DONE))
            raise HubError(exc.code, exc.message) from None
        await give_back(self.line_places, visit.visit_id)  # served: out of the line
        try:
            reference, code = await self.crm.open_ticket(call, visit)
        except Exception:
            log.exception("could not open the ticket for call %s", call.call_id)
            await self._undo_accept(call, visit)
            raise HubError(
                "internal_error", "the call could not start; the customer is back in line"
            ) from None
        call = replace(call, ticket_reference=reference)
        await self.registry.put_call(call)
        await self.registry.put_visit(
            replace(
                visit,
                ticket_reference=reference,
                secret_code=code or visit.secret_code,
                call_id=call.call_id,
                handoff_note=None,
            )
        )
        self._last_positions.pop(visit.visit_id, None)
        self._told_state(agent_id, AgentState.ON_CALL)  # by the answer below
        await self._emit(
            customer(visit.visit_id),
            "connected",
            {
                "call_id": call.call_id,
                "polite": True,
                "ice_servers": self.ice_servers(f"customer-{visit.visit_id}"),
                "agent": {"display_name": await self.crm.agent_name(agent_id)},
                "ticket_reference": reference,
            },
        )
        return {
            "call_id": call.call_id,
            "polite": False,
            "ice_servers": self.ice_servers(f"agent-{agent_id}"),
            "ticket_reference": reference,
            "customer": {
                "display_name": visit.display_name,
                "language": visit.language,
                "needs": call.bucket,
                "handoff_note": visit.handoff_note,
            },
        }

    async def _undo_accept(self, call: CallSession, visit: Visit) -> None:
        """The CRM failed after routing had paired them: free the agent, requeue the customer."""
        await self.registry.replace_call(call, replace(call, state=CallState.DONE))
        now = self.clock()
        with contextlib.suppress(RoutingError):
            await self.routing.end_call(call.agent_id, now)
        with contextlib.suppress(RoutingError):
            await self._offered(await self.routing.finish_wrap_up(call.agent_id, now))
        await self._requeue_front(
            visit, visit.needs or Needs.from_bucket(call.bucket), "connect_failed"
        )

    async def _record(self, what: str, work: Awaitable[None]) -> None:
        """CRM bookkeeping after a call changed: a failure is logged, never undoes the call."""
        try:
            await work
        except Exception:
            log.exception("CRM could not record %s", what)

    async def reject(self, agent_id: str, offer_id: str) -> dict[str, Any]:
        call = await self.registry.call_for_offer(offer_id)
        if call is None or call.state is not CallState.OFFERED:
            raise HubError("unknown_offer", "this offer is no longer open")
        try:
            offers = await self.routing.reject(offer_id, agent_id, self.clock())
        except RoutingError as exc:
            raise HubError(exc.code, exc.message) from None
        await self.registry.replace_call(
            call, ended_early(call, self.clock(), CallEnd.NOT_ANSWERED)
        )
        await self._offered(offers)
        return {}

    async def finish_wrap_up(self, agent_id: str, request: FinishWrapUp) -> dict[str, Any]:
        call = await self._call_of(agent(agent_id), request.call_id, CallState.WRAP_UP)
        now = self.clock()
        await self._move(call, wrapped_up(call, now))
        await self._record(
            "the wrap-up", self.crm.wrap_up_finished(call, request.outcome, request.notes)
        )
        try:
            if request.next_state == "away":
                offers = await self.routing.set_agent_state(agent_id, AgentState.AWAY, now)
            else:
                offers = await self.routing.finish_wrap_up(agent_id, now)
        except AgentBusy:
            # The wrap-up time ran out already (or the agent stepped away meanwhile): make the
            # state the one asked for, as availability would, so the answer is true.
            return await self.set_availability(agent_id, request.next_state)
        self._told_state(agent_id, AgentState(request.next_state))  # by the answer
        await self._offered(offers)
        return {"state": request.next_state}

    async def transfer(self, agent_id: str, request: Transfer) -> dict[str, Any]:
        call = await self._call_of(
            agent(agent_id), request.call_id, CallState.CONNECTING, CallState.IN_CALL
        )
        visit = await self._visit(call.customer_id)
        current = visit.needs or Needs.from_bucket(call.bucket)
        needs = Needs(
            request.category or current.category,
            request.language or current.language,
            current.sign_language if request.sign_language is None else request.sign_language,
        )
        if not await self.crm.has_category(needs.category):
            raise HubError("invalid_payload", f"unknown service category {needs.category!r}")
        talking, call = call, hung_up(call, self.clock(), CallEnd.TRANSFERRED)
        await self._move(talking, call)
        await self._record("the transfer", self.crm.call_ended(call, request.note))
        offers = await self._end_for_agent(call)
        await self._call_ended_for_agent(call, "transferred")
        await self._requeue_front(replace(visit, handoff_note=request.note), needs, "transfer")
        await self._offered(offers)
        return {}

    # --- both sides of a call ---------------------------------------------------------------

    def _other(self, call: CallSession, member: Member) -> Member:
        return agent(call.agent_id) if member.role == "customer" else customer(call.customer_id)

    async def relay_signal(self, member: Member, signal: Signal) -> dict[str, Any]:
        call = await self._call_of(
            member, signal.call_id, CallState.CONNECTING, CallState.IN_CALL, relay=True
        )
        await self._emit(
            self._other(call, member),
            "signal",
            signal.model_dump(exclude_unset=True, mode="json"),
        )
        return {}

    async def relay_chat(self, member: Member, chat: Chat) -> dict[str, Any]:
        call = await self._call_of(
            member, chat.call_id, CallState.CONNECTING, CallState.IN_CALL, relay=True
        )
        message = {
            "call_id": call.call_id,
            "message_id": self.new_id(),
            "from": member.role,
            "text": chat.text,
            "sent_at": self.clock(),
        }
        await self._emit(self._other(call, member), "chat", message)
        return {"message_id": message["message_id"], "sent_at": message["sent_at"]}

    async def media_connected(self, member: Member, call_id: str) -> dict[str, Any]:
        call = await self._call_of(member, call_id, CallState.CONNECTING, CallState.IN_CALL)
        if call.state is CallState.CONNECTING:
            media = connected(call, self.clock())
            # Both peers report; whoever is second finds the call already in progress.
            if await self.registry.replace_call(call, media):
                await self._record("the connection", self.crm.call_connected(media))
        return {}

    async def hang_up(
        self, member: Member, call_id: str, end: CallEnd = CallEnd.COMPLETED
    ) -> dict[str, Any]:
        call = await self._call_of(member, call_id, CallState.CONNECTING, CallState.IN_CALL)
        talking, call = call, hung_up(call, self.clock(), end)
        await self._move(talking, call)
        await self._record("the end of the call", self.crm.call_ended(call, None))
        offers = await self._end_for_agent(call)
        visit = await self.registry.get_visit(call.customer_id)
        ended = {
            "call_id": call.call_id,
            "reason": call.end.value if call.end else None,
            "ticket_reference": call.ticket_reference,
            "secret_code": visit.secret_code if visit else None,
        }
        await self._emit(customer(call.customer_id), "call_ended", ended)
        await self._call_ended_for_agent(call, call.end.value if call.end else None)
        if visit is not None:
            # Kept until the customer's socket goes for good: a customer who was offline at this
            # moment gets the reference and secret code again when they reconnect.
            await self.registry.put_visit(replace(visit, needs=None, call_id=None, ended=ended))
        await self._offered(offers)
        return {}

    async def file_shared(self, call: CallSession, info: dict[str, Any]) -> None:
        """A file the customer uploaded (over HTTP) appears at the agent's side at once."""
        await self._emit(agent(call.agent_id), "file_shared", {"call_id": call.call_id, **info})

    # --- connections come and go ------------------------------------------------------------

    async def connected_socket(self, member: Member, sid: str, limit: int | None = None) -> bool:
        """False, changing nothing, if the member has `limit` sockets open already."""
        if not await self.registry.socket_opened(member.room, sid, limit):
            return False
        try:
            await self.reconnected(member)
        except BaseException:
            # The connection fails, so no disconnect will come to uncount it.
            await self.registry.socket_closed(member.room, sid)
            raise
        return True

    # A staff member's sockets are also kept under their login session, so that logging out (or
    # an administrator ending the session) can close every one of them, on whatever process.

    async def staff_socket_opened(self, session_key: str, namespace: str, sid: str) -> None:
        await self.registry.socket_opened(f"staff-session:{session_key}", f"{namespace} {sid}")

    async def staff_socket_closed(self, session_key: str, namespace: str, sid: str) -> None:
        await self.registry.socket_closed(f"staff-session:{session_key}", f"{namespace} {sid}")

    async def staff_sockets(self, session_key: str) -> list[tuple[str, str]]:
        """(namespace, sid) of every socket opened with this login session."""
        entries = await self.registry.sockets_of(f"staff-session:{session_key}")
        return sorted(tuple(entry.split(" ", 1)) for entry in entries)  # type: ignore[misc]

    async def disconnected(self, member: Member, sid: str) -> None:
        """The grace period starts when the member's *last* socket closes (tabs, quick reconnects)."""
        if await self.registry.socket_closed(member.room, sid) == 0:
            await self.registry.start_grace(member.room, self.clock() + self.config.grace_seconds)

    async def reconnected(self, member: Member) -> None:
        """Back within the grace period (or a fresh connection): resend where they stand."""
        await self.registry.end_grace(member.room)
        if member.role == "customer":
            visit = await self.registry.get_visit(member.id)
            if visit is None:
                return
            call = await self.registry.get_call(visit.call_id) if visit.call_id else None
            if call is not None and call.state in {CallState.CONNECTING, CallState.IN_CALL}:
                await self._emit(
                    member,
                    "connected",
                    {
                        "call_id": call.call_id,
                        "polite": True,
                        "resumed": True,
                        "ice_servers": self.ice_servers(f"customer-{member.id}"),
                        "agent": {"display_name": await self.crm.agent_name(call.agent_id)},
                        "ticket_reference": call.ticket_reference,
                    },
                )
            elif visit.ended is not None:
                await self._emit(member, "call_ended", visit.ended)
            elif visit.needs is not None:
                self._last_positions.pop(member.id, None)
            return
        # A reloaded console knows nothing yet: the next push tells its state.
        self._last_agent_states.pop(member.id, None)
        call = await self.registry.call_of_agent(member.id)
        if call is not None and call.state is CallState.OFFERED:
            await self._send_offer(call)  # a reloaded console must not miss its offer
        if call is not None and call.state in {CallState.CONNECTING, CallState.IN_CALL}:
            await self._emit(
                member,
                "call_resumed",
                {
                    "call_id": call.call_id,
                    "polite": False,
                    "ice_servers": self.ice_servers(f"agent-{member.id}"),
                    "ticket_reference": call.ticket_reference,
                },
            )

    async def _grace_ended(self, member: Member) -> None:
        if await self.registry.open_sockets(member.room) > 0:
            return  # they came back on another socket meanwhile
        if member.role == "customer":
            visit = await self.registry.get_visit(member.id)
            call = await self.registry.get_call(visit.call_id) if visit and visit.call_id else None
            if call is not None and call.state in {CallState.CONNECTING, CallState.IN_CALL}:
                await self.hang_up(member, call.call_id, CallEnd.CUSTOMER_LOST)
            else:
                await self.customer_leave(member.id)
            return
        call = await self.registry.call_of_agent(member.id)
        if call is not None and call.state in {CallState.CONNECTING, CallState.IN_CALL}:
            talking, call = call, ended_early(call, self.clock(), CallEnd.AGENT_LOST)
            await self._move(talking, call)
            await self._record("the lost agent", self.crm.call_ended(call, None))
            await self._end_for_agent(call)
            visit = await self.registry.get_visit(call.customer_id)
            if visit is not None:
                await self._requeue_front(
                    visit, visit.needs or Needs.from_bucket(call.bucket), "agent_lost"
                )
        elif call is not None and call.state is CallState.WRAP_UP:
            await self.registry.replace_call(call, wrapped_up(call, self.clock()))
        try:
            await self.set_availability(member.id, "offline", by_agent=False)
        except HubError:
            log.warning("agent %s could not be set offline after their grace period", member.id)

    # --- timers -------------------------------------------------------------------------------

    async def tick(self) -> None:
        now = self.clock()
        # A crashed process dropped all its connections at once: those people get their grace.
        for room in await self.registry.forget_dead_processes():
            if room.startswith(("customer:", "agent:")):
                await self.registry.start_grace(room, now + self.config.grace_seconds)
        for call in await self.registry.open_calls():
            try:
                await self._call_timers(call, now)
            except HubError:
                pass  # another process (or the people in the call) moved it first
        await self._offered(await self.routing.expire(now))
        for room in await self.registry.expired_graces(now):
            role, _, member_id = room.partition(":")
            try:
                await self._grace_ended(Member(role, member_id))  # type: ignore[arg-type]
            except Exception:
                # One member's failure must not cost the others their grace handling.
                log.exception("ending the grace period of %s failed; retrying soon", room)
                await self.registry.start_grace(room, now + 5)
        # Positions and the snapshot read every waiting customer and every agent: at most once a
        # second (real time), however often the timers tick.
        if time.monotonic() - self._last_push >= STATS_INTERVAL_SECONDS:
            self._last_push = time.monotonic()
            await self._push_positions()
            await self._push_states()

    async def _push_states(self) -> None:
        """Supervisors get the whole picture; agents hear of their own state changes."""
        now = self.clock()
        snapshot = await self.routing.snapshot(now)
        # The whole picture reads every visit and call: only built when a supervisor (on any
        # process) is watching. The agents' states and the minute sample need the snapshot only.
        if await self.registry.open_sockets(SUPERVISORS_ROOM):
            stats = await self._stats_of(snapshot, now)
            await self.emitter.emit("stats", stats, to=SUPERVISORS_ROOM, namespace=SUPERVISOR_NS)
        # Only the process running the timers gets here, so each minute is sampled once.
        minute = int(now // 60)
        if self.supervision is not None and minute != self._last_sample_minute:
            self._last_sample_minute = minute
            await self._record(
                "the queue sample",
                self.supervision.queues_sampled(minute * 60.0, self._queue_views(snapshot)),
            )
        sent = 0
        for view in snapshot.agents:
            if self._last_agent_states.get(view.agent_id) is not view.state:
                self._last_agent_states[view.agent_id] = view.state
                await self._emit(agent(view.agent_id), "state", {"state": view.state.value})
                sent += 1
                await _let_others_run(sent)

    async def supervisor_opened(self, sid: str) -> None:
        await self.registry.socket_opened(SUPERVISORS_ROOM, sid)

    async def supervisor_closed(self, sid: str) -> None:
        await self.registry.socket_closed(SUPERVISORS_ROOM, sid)

    async def _call_timers(self, call: CallSession, now: float) -> None:
        if call.state is CallState.OFFERED and call.offer_expires_at < now:
            await self._withdraw(call, CallEnd.NOT_ANSWERED, "timeout")
        elif call.state is CallState.CONNECTING and (call.connect_deadline() or now) < now:
            await self._connect_failed(call)
        elif (
            call.state is CallState.WRAP_UP
            and (call.ended_at or now) + self.config.wrap_up_seconds <= now
        ):
            if await self.registry.replace_call(call, wrapped_up(call, now)):
                await self._record("the wrap-up", self.crm.wrap_up_finished(call, None, None))

    async def _connect_failed(self, call: CallSession) -> None:
        connecting, call = call, hung_up(call, self.clock(), CallEnd.CONNECT_FAILED)
        await self._move(connecting, call)
        await self._record("the failed connection", self.crm.call_ended(call, None))
        offers = await self._end_for_agent(call)
        await self._call_ended_for_agent(call, "connect_failed")
        visit = await self.registry.get_visit(call.customer_id)
        if visit is not None:
            await self._requeue_front(
                visit, visit.needs or Needs.from_bucket(call.bucket), "connect_failed"
            )
        await self._offered(offers)

    async def _push_positions(self) -> None:
        sent = 0
        for visit in await self.registry.waiting_visits():
            position = await self.position_of(visit.visit_id)
            if position["position"] is None:
                continue
            key = _as_shown(position)
            if self._last_positions.get(visit.visit_id) != key:
                self._last_positions[visit.visit_id] = key
                await self._emit(customer(visit.visit_id), "queue_position", position)
                sent += 1
                await _let_others_run(sent)

    async def supervisor_stats(self) -> dict[str, Any]:
        """The whole live picture for supervisors: queues, agents, calls and who waits.

        Costs one snapshot, one read of the visits and open calls, and one `waiting` read per
        non-empty queue (at most 50 customers each); agents' names are cached by the CRM.
        """
        now = self.clock()
        return await self._stats_of(await self.routing.snapshot(now), now)

    def _queue_views(self, snapshot: Snapshot) -> list[dict[str, Any]]:
        return [
            {
                "queue": q.needs.bucket,
                "category": q.needs.category,
                "language": q.needs.language,
                "sign_language": q.needs.sign_language,
                "waiting": q.waiting,
                "longest_wait_seconds": q.longest_wait_seconds,
                "answered": q.answered,
                "answered_in_time": q.answered_in_time,
                "service_level": q.service_level,
                "service_level_target": SERVICE_LEVEL_GOALS[q.needs.sign_language],
                "service_level_seconds": self.routing_config.threshold_for(q.needs),
                "average_speed_of_answer": q.average_speed_of_answer,
                "abandoned": q.abandoned,
                "abandonment_rate": q.abandonment_rate,
            }
            for q in snapshot.queues
        ]

    async def _stats_of(self, snapshot: Snapshot, now: float) -> dict[str, Any]:
        # One read of all visits serves both the waiting list and the names of those in calls.
        visits = {v.visit_id: v for v in await self.registry.all_visits()}
        calls = [
            c
            for c in await self.registry.open_calls()
            if c.state in {CallState.OFFERED, CallState.CONNECTING, CallState.IN_CALL}
        ]
        names_of_customers = {
            c.customer_id: visits[c.customer_id].display_name
            for c in calls
            if c.customer_id in visits
        }
        waiting: list[dict[str, Any]] = []
        for q in snapshot.queues:
            if q.waiting == 0:
                continue
            for position, w in enumerate(await self.routing.waiting(q.needs), start=1):
                visit = visits.get(w.customer_id)
                waiting.append(
                    {
                        "customer_id": w.customer_id,
                        "display_name": visit.display_name if visit else None,
                        "queue": q.needs.bucket,
                        "category": q.needs.category,
                        "language": q.needs.language,
                        "sign_language": q.needs.sign_language,
                        "position": position,
                        "priority": w.base_priority,
                        "enqueued_at": w.enqueued_at,
                    }
                )
        return {
            "now": now,
            "queues": self._queue_views(snapshot),
            "agents": [
                {
                    "agent_id": a.agent_id,
                    "display_name": await self._agent_name(a.agent_id),
                    "state": a.state.value,
                    "state_since": a.state_since,
                    "customer_id": a.customer_id,
                    "customer_name": names_of_customers.get(a.customer_id or ""),
                    "calls_today": a.calls_today,
                }
                for a in snapshot.agents
            ],
            "calls": [
                {
                    "call_id": c.call_id,
                    "state": c.state.value,
                    "agent_id": c.agent_id,
                    "agent_name": await self._agent_name(c.agent_id),
                    "customer_id": c.customer_id,
                    "customer_name": names_of_customers.get(c.customer_id),
                    "queue": c.bucket,
                    "since": c.connected_at or c.accepted_at or c.offered_at,
                    "ticket_reference": c.ticket_reference,
                }
                for c in sorted(calls, key=lambda c: c.offered_at)
            ],
            "waiting": waiting,
        }

    async def _agent_name(self, agent_id: str) -> str | None:
        # The CRM keeps names for a short while, so a renamed agent shows up without a restart.
        try:
            return await self.crm.agent_name(agent_id) or None
        except Exception:
            log.exception("the name of agent %s could not be read", agent_id)
            return None

    # --- supervisor actions ---------------------------------------------------------------------
    # Each lands in the audit log with the supervisor's staff id, once it has succeeded.

    async def _audit(self, by: str, action: str, target: str, details: dict[str, Any]) -> None:
        if self.supervision is not None:
            await self._record(
                f"the audit of {action}",
                self.supervision.action_taken(by, action, target, details, self.clock()),
            )

    async def supervisor_set_priority(
        self, customer_id: str, priority: int, *, by: str
    ) -> dict[str, Any]:
        await self.routing.set_priority(customer_id, priority, self.clock())
        visit = await self.registry.get_visit(customer_id)
        if visit is not None:
            await self.registry.put_visit(replace(visit, priority=priority))
        await self._audit(by, "set_priority", customer_id, {"priority": priority})
        return {}

    async def supervisor_move(self, customer_id: str, needs: Needs, *, by: str) -> dict[str, Any]:
        if not await self.crm.has_category(needs.category):
            raise HubError("invalid_payload", f"unknown service category {needs.category!r}")
        offer = await self.routing.move(customer_id, needs, self.clock())
        visit = await self.registry.get_visit(customer_id)
        if visit is not None:
            await self.registry.put_visit(replace(visit, needs=needs))
        await self._audit(
            by,
            "move",
            customer_id,
            {
                "category": needs.category,
                "language": needs.language,
                "sign_language": needs.sign_language,
            },
        )
        if offer is not None:
            await self._offered([offer])
        return {}

    async def supervisor_offer_to(
        self, customer_id: str, agent_id: str, *, by: str
    ) -> dict[str, Any]:
        await self._offered([await self.routing.offer_to(customer_id, agent_id, self.clock())])
        await self._audit(by, "offer_to", customer_id, {"agent_id": agent_id})
        return {}

    async def supervisor_set_agent_state(
        self, agent_id: str, state: str, *, by: str
    ) -> dict[str, Any]:
        result = await self.set_availability(agent_id, state, by_agent=False)
        await self._audit(by, "set_agent_state", agent_id, {"state": result["state"]})
        return result


#: The share of calls to answer within the routing engine's threshold (20 s; 30 s for sign
#: language, `RoutingConfig.threshold_for`): keyed by whether the queue needs sign language.
SERVICE_LEVEL_GOALS = {False: 0.80, True: 0.85}


class Supervision(Protocol):
    """Where supervisor actions are audited and queue samples kept (the server: its database)."""

    async def action_taken(
        self, staff_id: str, action: str, target: str, details: dict[str, Any], at: float
    ) -> None: ...

    async def queues_sampled(self, minute: float, queues: list[dict[str, Any]]) -> None:
        """The queues' figures at the start of `minute` (a timestamp), from `supervisor_stats`."""
