"""The three Socket.IO namespaces: authenticate on connect, validate every event, call the hub.

A handler never raises to python-socketio: every refusal becomes an error acknowledgement, so a bad
event cannot crash a handler, reach the other peer, or change any state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import socketio
from redis.exceptions import RedisError

from vbranch_queue.core.model import AgentState, Needs, Skills
from vbranch_queue.errors import RoutingError
from vbranch_signaling.caps import ENGLISH, AbuseCaps, Texts, english
from vbranch_signaling.hub import (
    SUPERVISORS_ROOM,
    CallHub,
    HubError,
    Member,
    agent,
    customer,
)
from vbranch_signaling.line_removal import remove_from_line
from vbranch_signaling.rate_limit import SocketBuckets
from vbranch_signaling.schemas import (
    CallRef,
    Chat,
    Empty,
    Event,
    EventError,
    FinishWrapUp,
    Join,
    Move,
    OfferRef,
    OfferTo,
    RemoveFromLine,
    SetAgentState,
    SetAvailability,
    SetPriority,
    Signal,
    Transfer,
    parse,
)
from vbranch_signaling.tokens import TokenError, verify_visit_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffIdentity:
    staff_id: str
    role: str
    display_name: str
    skills: Skills
    #: Names the login session the socket was opened with (logging out closes its sockets).
    session_key: str = ""
    #: When that login session ends (seconds since the epoch): its sockets are closed then.
    session_expires_at: float | None = None
    #: The language of the console or dashboard the socket was opened from.
    language: str = "ar"


#: Looks up the staff member behind a connection (from its session cookie); None if not logged in.
StaffLookup = Callable[[dict[str, Any]], Awaitable[StaffIdentity | None]]


def ok(result: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ok": True, **(result or {})}


def refused(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


#: Redis (the queue, the calls) did not answer in time or is gone; retrying later may succeed.
SERVICE_UNAVAILABLE = ("service_unavailable", "the service is briefly unavailable: try again")

Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]


class GuardedNamespace(socketio.AsyncNamespace):
    """Routes `event` to `handle_<event>(sid, payload)` and turns every failure into an ack."""

    #: Events this namespace accepts, with the schema of each payload.
    schemas: ClassVar[Mapping[str, type[Event]]] = {}

    def __init__(
        self,
        namespace: str,
        hub: CallHub,
        *,
        caps: AbuseCaps | None = None,
        texts: Texts = english,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(namespace)
        self.hub, self.texts, self.clock = hub, texts, clock
        self.caps = caps or AbuseCaps()
        #: Each socket's token buckets for the events a call relays (see rate_limit.py).
        self.buckets = SocketBuckets({"chat": self.caps.chat, "signal": self.caps.signal})

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in {"connect", "disconnect"}:
            # A client may *send* an event named "disconnect": only the server's own counts.
            if event == "disconnect" and self.server.manager.is_connected(args[0], self.namespace):
                return refused("unknown_event", "disconnect is not an event a client sends")
            try:
                return await super().trigger_event(event, *args)
            except RedisError as exc:  # one line, not a traceback; a connect is refused clearly
                log.warning("%s on %s: Redis unavailable: %s", event, self.namespace, exc)
                if event == "connect":
                    raise socketio.exceptions.ConnectionRefusedError(
                        SERVICE_UNAVAILABLE[1]
                    ) from None
                return None
            finally:
                if event == "disconnect":
                    self.buckets.forget(args[0])
        sid, payload = args[0], args[1] if len(args) > 1 else None
        schema = self.schemas.get(event)
        if schema is None:
            return refused("unknown_event", f"no event {event!r} on {self.namespace}")
        # Before any work on the payload: a flood costs a dictionary lookup per event.
        if not self.buckets.allow(sid, event, self.clock()):
            return await self._refused(sid, "rate_limited", "")
        try:
            request = parse(schema, payload)
            return ok(await getattr(self, f"handle_{event}")(sid, request))
        except EventError as exc:
            return refused(exc.code, exc.message)
        except HubError as exc:
            return await self._refused(sid, exc.code, exc.message)
        except RoutingError as exc:
            return await self._refused(sid, exc.code, exc.message)
        except RedisError as exc:  # stalled or gone: the event is refused, the next may pass
            log.warning("event %s on %s: Redis unavailable: %s", event, self.namespace, exc)
            return refused(*SERVICE_UNAVAILABLE)
        except Exception:
            log.exception("event %s on %s failed", event, self.namespace)
            return refused("internal_error", "something went wrong on our side")

    async def _refused(self, sid: str, code: str, message: str) -> dict[str, Any]:
        """The abuse caps' refusals speak the socket's language (the others stay English, for
        the logs: clients show their own text for each code)."""
        if code in ENGLISH:
            language = (await self.get_session(sid) or {}).get("language", "ar")
            message = self.texts(language, code)
        return refused(code, message)

    async def _identity(self, sid: str) -> Member:
        session = await self.get_session(sid)
        return session["member"]


class CallMemberNamespace(GuardedNamespace):
    """What both members of a call can do: negotiate, chat, report media, hang up."""

    async def handle_signal(self, sid: str, request: Signal) -> dict[str, Any]:
        return await self.hub.relay_signal(await self._identity(sid), request)

    async def handle_chat(self, sid: str, request: Chat) -> dict[str, Any]:
        return await self.hub.relay_chat(await self._identity(sid), request)

    async def handle_hang_up(self, sid: str, request: CallRef) -> dict[str, Any]:
        return await self.hub.hang_up(await self._identity(sid), request.call_id)

    async def handle_media_connected(self, sid: str, request: CallRef) -> dict[str, Any]:
        return await self.hub.media_connected(await self._identity(sid), request.call_id)


class CustomerNamespace(CallMemberNamespace):
    schemas: ClassVar[Mapping[str, type[Event]]] = {
        "join": Join,
        "leave": Empty,
        "signal": Signal,
        "chat": Chat,
        "hang_up": CallRef,
        "media_connected": CallRef,
    }

    def __init__(
        self, hub: CallHub, secret_key: str, clock: Callable[[], float], **options: Any
    ) -> None:
        super().__init__("/customer", hub, clock=clock, **options)
        self.secret_key = secret_key

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = verify_visit_token(self.secret_key, token, self.clock())
        except TokenError as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        member = customer(claims.visit_id)
        session = {"member": member, "language": claims.language, "address": claims.address}
        await self.save_session(sid, session)
        await self.enter_room(sid, member.room)
        # Counted and checked in one step (on every process): a burst of connections with one
        # token cannot all pass. A refused socket gets no disconnect, and python-socketio takes
        # it out of the room again.
        if not await self.hub.connected_socket(member, sid, limit=self.caps.sockets_per_visit):
            code = "too_many_sockets"
            raise socketio.exceptions.ConnectionRefusedError(
                self.texts(claims.language, code), {"code": code}
            )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        await self.hub.disconnected(session["member"], sid)

    async def handle_join(self, sid: str, request: Join) -> dict[str, Any]:
        session = await self.get_session(sid)
        return await self.hub.customer_join(
            session["member"].id, session["language"], request, session.get("address")
        )

    async def handle_leave(self, sid: str, _request: Empty) -> dict[str, Any]:
        return await self.hub.customer_leave((await self._identity(sid)).id)


class StaffNamespace(GuardedNamespace):
    roles: frozenset[str] = frozenset()

    def __init__(self, namespace: str, hub: CallHub, lookup: StaffLookup, **options: Any) -> None:
        super().__init__(namespace, hub, **options)
        self.lookup = lookup
        #: This process's sockets of sessions that end: sid → when (see `close_expired`).
        self._session_ends: dict[str, float] = {}

    async def _authenticate(self, environ: dict[str, Any]) -> StaffIdentity:
        staff = await self.lookup(environ)
        if staff is None:
            raise socketio.exceptions.ConnectionRefusedError("log in as a staff member first")
        if staff.role not in self.roles:
            raise socketio.exceptions.ConnectionRefusedError("your role may not use this namespace")
        return staff

    async def _staff_connected(
        self, sid: str, staff: StaffIdentity, environ: dict[str, Any]
    ) -> None:
        await self.hub.staff_socket_opened(staff.session_key, self.namespace, sid)
        # A logout that ran between the check above and now could not see this socket yet.
        if await self.lookup(environ) is None:
            await self.hub.staff_socket_closed(staff.session_key, self.namespace, sid)
            raise socketio.exceptions.ConnectionRefusedError("log in as a staff member first")
        if staff.session_expires_at is not None:
            self._session_ends[sid] = staff.session_expires_at

    async def _staff_disconnected(self, sid: str) -> None:
        self._session_ends.pop(sid, None)
        session = await self.get_session(sid)
        await self.hub.staff_socket_closed(session["session_key"], self.namespace, sid)

    async def close_expired(self, now: float) -> int:
        """Closes this process's sockets whose login session has ended by `now`, as a logout
        would: a socket must not outlive the session it was opened with. How many."""
        ended = [sid for sid, ends in self._session_ends.items() if ends <= now]
        for sid in ended:
            self._session_ends.pop(sid, None)
            await self.disconnect(sid)
        return len(ended)


class AgentNamespace(CallMemberNamespace, StaffNamespace):
    roles = frozenset({"agent"})
    schemas: ClassVar[Mapping[str, type[Event]]] = {
        "set_availability": SetAvailability,
        "accept": OfferRef,
        "reject": OfferRef,
        "signal": Signal,
        "chat": Chat,
        "hang_up": CallRef,
        "media_connected": CallRef,
        "transfer": Transfer,
        "finish_wrap_up": FinishWrapUp,
    }

    def __init__(self, hub: CallHub, lookup: StaffLookup, **options: Any) -> None:
        super().__init__("/agent", hub, lookup, **options)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        staff = await self._authenticate(environ)
        # First, before any other effect: a refused connection gets no disconnect to undo them.
        await self._staff_connected(sid, staff, environ)
        member = agent(staff.staff_id)
        await self.save_session(
            sid, {"member": member, "session_key": staff.session_key, "language": staff.language}
        )
        await self.enter_room(sid, member.room)
        await self.hub.agent_ready(staff.staff_id, staff.skills)
        await self.hub.connected_socket(member, sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        await self._staff_disconnected(sid)
        await self.hub.disconnected(session["member"], sid)

    async def handle_set_availability(self, sid: str, request: SetAvailability) -> dict[str, Any]:
        return await self.hub.set_availability((await self._identity(sid)).id, request.state)

    async def handle_accept(self, sid: str, request: OfferRef) -> dict[str, Any]:
        return await self.hub.accept((await self._identity(sid)).id, request.offer_id)

    async def handle_reject(self, sid: str, request: OfferRef) -> dict[str, Any]:
        return await self.hub.reject((await self._identity(sid)).id, request.offer_id)

    async def handle_transfer(self, sid: str, request: Transfer) -> dict[str, Any]:
        return await self.hub.transfer((await self._identity(sid)).id, request)

    async def handle_finish_wrap_up(self, sid: str, request: FinishWrapUp) -> dict[str, Any]:
        return await self.hub.finish_wrap_up((await self._identity(sid)).id, request)


class SupervisorNamespace(StaffNamespace):
    roles = frozenset({"supervisor", "admin"})
    schemas: ClassVar[Mapping[str, type[Event]]] = {
        "set_priority": SetPriority,
        "move": Move,
        "offer_to": OfferTo,
        "set_agent_state": SetAgentState,
        "remove_from_line": RemoveFromLine,
    }

    def __init__(self, hub: CallHub, lookup: StaffLookup, **options: Any) -> None:
        super().__init__("/supervisor", hub, lookup, **options)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        staff = await self._authenticate(environ)
        await self._staff_connected(sid, staff, environ)  # first, as for agents
        # Kept for the audit log: every action names the supervisor who took it.
        await self.save_session(sid, {"staff_id": staff.staff_id, "session_key": staff.session_key})
        await self.enter_room(sid, SUPERVISORS_ROOM)
        await self.hub.supervisor_opened(sid)
        await self.emit("stats", await self.hub.supervisor_stats(), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        await self.hub.supervisor_closed(sid)
        await self._staff_disconnected(sid)

    async def _supervisor(self, sid: str) -> str:
        return str((await self.get_session(sid))["staff_id"])

    async def handle_set_priority(self, sid: str, request: SetPriority) -> dict[str, Any]:
        return await self.hub.supervisor_set_priority(
            request.customer_id, request.priority, by=await self._supervisor(sid)
        )

    async def handle_move(self, sid: str, request: Move) -> dict[str, Any]:
        needs = Needs(request.category, request.language, request.sign_language)
        return await self.hub.supervisor_move(
            request.customer_id, needs, by=await self._supervisor(sid)
        )

    async def handle_offer_to(self, sid: str, request: OfferTo) -> dict[str, Any]:
        return await self.hub.supervisor_offer_to(
            request.customer_id, request.agent_id, by=await self._supervisor(sid)
        )

    async def handle_set_agent_state(self, sid: str, request: SetAgentState) -> dict[str, Any]:
        return await self.hub.supervisor_set_agent_state(
            request.agent_id, AgentState(request.state).value, by=await self._supervisor(sid)
        )

    async def handle_remove_from_line(self, sid: str, request: RemoveFromLine) -> dict[str, Any]:
        return await remove_from_line(self.hub, request.customer_id, by=await self._supervisor(sid))
