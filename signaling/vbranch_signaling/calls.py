"""The call session as an explicit state machine: offered → connecting → in call → wrap-up → done.

Pure: each transition takes the session and the moment, and returns the next session or refuses.
Timeouts are transitions too; the signaling layer fires them from its timers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

#: Accepted calls whose media has not connected in this time end, and the customer goes back
#: to the front of the line.
CONNECT_TIMEOUT_SECONDS = 30.0


class CallState(enum.StrEnum):
    OFFERED = "offered"
    CONNECTING = "connecting"
    IN_CALL = "in_call"
    WRAP_UP = "wrap_up"
    DONE = "done"


class CallEnd(enum.StrEnum):
    """Why a call session ended; recorded as the call's outcome."""

    NOT_ANSWERED = "not_answered"  # rejected or timed out: the customer keeps their place
    ABANDONED = "abandoned"  # the customer left before the call connected
    CONNECT_FAILED = "connect_failed"  # media never connected: the customer goes to the front
    COMPLETED = "completed"  # hung up after talking
    CUSTOMER_LOST = "customer_lost"  # the customer's connection dropped and did not come back
    AGENT_LOST = "agent_lost"  # the agent's connection dropped: the customer goes to the front
    TRANSFERRED = "transferred"  # sent to another line, at its front, keeping the ticket


class TransitionRefused(ValueError):
    pass


@dataclass(frozen=True)
class CallSession:
    call_id: str
    customer_id: str
    agent_id: str
    offer_id: str
    bucket: str
    enqueued_at: float
    offered_at: float
    #: The routing engine's deadline for the offer; past it the offer is withdrawn.
    offer_expires_at: float = float("inf")
    state: CallState = CallState.OFFERED
    accepted_at: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    end: CallEnd | None = None
    ticket_reference: str | None = None

    @property
    def wait_seconds(self) -> float | None:
        return None if self.accepted_at is None else self.accepted_at - self.enqueued_at

    @property
    def talk_seconds(self) -> float | None:
        if self.connected_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.connected_at

    def connect_deadline(self) -> float | None:
        if self.state is not CallState.CONNECTING or self.accepted_at is None:
            return None
        return self.accepted_at + CONNECT_TIMEOUT_SECONDS


def _require(session: CallSession, *states: CallState) -> None:
    if session.state not in states:
        allowed = " or ".join(states)
        raise TransitionRefused(f"call {session.call_id} is {session.state}, not {allowed}")


def accepted(session: CallSession, now: float, ticket_reference: str | None = None) -> CallSession:
    _require(session, CallState.OFFERED)
    return replace(
        session, state=CallState.CONNECTING, accepted_at=now, ticket_reference=ticket_reference
    )


def connected(session: CallSession, now: float) -> CallSession:
    """Media flows. Idempotent: both peers report it, the first report counts."""
    if session.state is CallState.IN_CALL:
        return session
    _require(session, CallState.CONNECTING)
    return replace(session, state=CallState.IN_CALL, connected_at=now)


#: Ends after which the agent still wraps up (their side of the call ended normally enough).
_WRAP_UP_ENDS = frozenset(
    {CallEnd.COMPLETED, CallEnd.CUSTOMER_LOST, CallEnd.TRANSFERRED, CallEnd.CONNECT_FAILED}
)


def hung_up(session: CallSession, now: float, end: CallEnd = CallEnd.COMPLETED) -> CallSession:
    """The call is over for the customer; the agent wraps up (notes, outcome) before the next one."""
    if end not in _WRAP_UP_ENDS:
        raise TransitionRefused(f"{end} does not lead to wrap-up")
    _require(session, CallState.CONNECTING, CallState.IN_CALL)
    if end is CallEnd.CONNECT_FAILED and session.state is not CallState.CONNECTING:
        raise TransitionRefused("only a call still connecting can fail to connect")
    if session.state is CallState.CONNECTING and end is CallEnd.COMPLETED:
        end = CallEnd.ABANDONED
    return replace(session, state=CallState.WRAP_UP, ended_at=now, end=end)


def wrapped_up(session: CallSession, now: float) -> CallSession:
    _require(session, CallState.WRAP_UP)
    return replace(session, state=CallState.DONE)


def ended_early(session: CallSession, now: float, end: CallEnd) -> CallSession:
    """The session stops with no wrap-up: an offer not answered or abandoned, or the agent lost."""
    allowed = {
        CallEnd.NOT_ANSWERED: (CallState.OFFERED,),
        CallEnd.ABANDONED: (CallState.OFFERED,),
        CallEnd.AGENT_LOST: (CallState.CONNECTING, CallState.IN_CALL),
    }
    if end not in allowed:
        raise TransitionRefused(f"{end} is not an early end")
    _require(session, *allowed[end])
    return replace(session, state=CallState.DONE, ended_at=now, end=end)


def customer_returns_to_front(end: CallEnd) -> bool:
    """After these ends the customer is put back at the front of a line with the same ticket."""
    return end in {CallEnd.CONNECT_FAILED, CallEnd.AGENT_LOST, CallEnd.TRANSFERRED}
