"""Every inbound Socket.IO event's payload, as a schema. Pure: tested without a server or a loop.

Unknown fields are refused and every string is bounded, so a payload that passes is safe to relay.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from vbranch_signaling.plain_text import CleanLine, CleanMultiline

#: The largest payload an event may carry (JSON-encoded). An SDP is a few KiB; 64 KiB is generous.
MAX_PAYLOAD_BYTES = 64 * 1024

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=48, pattern=r"^[a-z0-9_]+$"),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Language = Literal["ar", "en"]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80), CleanLine]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,31}$")]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Join(Event):
    category: Name
    language: Language
    sign_language: bool = False
    display_name: DisplayName | None = None
    phone: Phone | None = None


class Empty(Event):
    pass


class SessionDescription(Event):
    type: Literal["offer", "answer"]
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]


class IceCandidate(Event):
    candidate: Annotated[str, StringConstraints(max_length=2_000)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class Signal(Event):
    """One step of WebRTC negotiation, relayed to the other member of the call only."""

    call_id: Id
    description: SessionDescription | None = None
    #: An ICE candidate; `null` (explicitly given) marks the end of candidates.
    candidate: IceCandidate | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Signal:
        if (self.description is None) == ("candidate" not in self.model_fields_set):
            raise ValueError("give exactly one of description or candidate")
        return self


class Chat(Event):
    call_id: Id
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000),
        CleanMultiline,
    ]


class CallRef(Event):
    call_id: Id


class OfferRef(Event):
    offer_id: Id


class SetAvailability(Event):
    state: Literal["available", "away", "offline"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None


class FinishWrapUp(Event):
    call_id: Id
    outcome: Name | None = None
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = None
    next_state: Literal["available", "away"] = "available"


class Transfer(Event):
    call_id: Id
    category: Name | None = None
    language: Language | None = None
    sign_language: bool | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Transfer:
        if self.category is None and self.language is None and self.sign_language is None:
            raise ValueError("a transfer names a category, a language or sign language")
        return self


class SetPriority(Event):
    customer_id: Id
    priority: int = Field(ge=0, le=9)


class Move(Event):
    customer_id: Id
    category: Name
    language: Language
    sign_language: bool = False


class OfferTo(Event):
    customer_id: Id
    agent_id: Id


class RemoveFromLine(Event):
    """A supervisor takes a waiting customer out of the line (docs/protocol.md)."""

    customer_id: Id


class SetAgentState(Event):
    agent_id: Id
    state: Literal["available", "away", "offline"]


E = TypeVar("E", bound=Event)


class EventError(ValueError):
    """A payload was refused; `code` goes into the error acknowledgement."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def payload_size(data: Any) -> int:
    try:
        return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise EventError("invalid_payload", "the payload is not JSON") from None


def parse(schema: type[E], data: Any) -> E:
    """Validate one event's payload: size first (cheap), then the schema."""
    if data is None:
        data = {}
    if payload_size(data) > MAX_PAYLOAD_BYTES:
        raise EventError("payload_too_large", f"payloads are limited to {MAX_PAYLOAD_BYTES} bytes")
    if not isinstance(data, dict):
        raise EventError("invalid_payload", "the payload must be a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise EventError("invalid_payload", f"{where}: {first['msg']}") from None
