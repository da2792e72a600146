"""The JSON API's request and response bodies; the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vbranch_server.db.models import (
    Ticket,
    TicketChannel,
    TicketEvent,
    TicketPriority,
    TicketStatus,
)
from vbranch_server.sla import SlaState
from vbranch_signaling.plain_text import CleanLine, CleanMultiline

#: One line a person typed (a subject, a name): control and format characters removed first.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), CleanLine]
#: Several lines a person typed (a note): newlines kept, other controls removed.
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), CleanMultiline]
Reference = Annotated[str, StringConstraints(pattern=r"^VB-\d{4}-\d{6}$")]


class Strict(BaseModel):
    # Unknown fields are refused: a typo in a field name is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: Annotated[Text, Field(max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class StaffOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    languages: list[str]
    categories: list[str]
    sign_language: bool


class LoginResponse(BaseModel):
    user: StaffOut
    csrf_token: str


class NewCustomer(Strict):
    display_name: Annotated[Text, Field(max_length=120)] | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None


class TicketCreate(Strict):
    category: Annotated[Text, Field(max_length=48)]
    subject: Annotated[Text, Field(max_length=200)]
    channel: TicketChannel = TicketChannel.PHONE
    priority: TicketPriority = TicketPriority.NORMAL
    language: Annotated[str, StringConstraints(pattern=r"^(ar|en)$")] = "ar"
    customer_id: int | None = Field(default=None, ge=1)
    customer: NewCustomer | None = None
    note: Annotated[LongText, Field(max_length=10_000)] | None = None


class StatusChange(Strict):
    status: TicketStatus
    note: Annotated[LongText, Field(max_length=10_000)] | None = None


class NoteCreate(Strict):
    body: Annotated[LongText, Field(max_length=10_000)]


class TrackRequest(Strict):
    reference: Reference
    code: Annotated[str, Field(min_length=4, max_length=32)]


class TicketFilterQuery(Strict):
    status: TicketStatus | None = None
    sla: SlaState | None = None
    agent: int | None = Field(default=None, ge=1)
    category: Annotated[str, Field(max_length=48)] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class TicketOut(BaseModel):
    reference: str
    status: TicketStatus
    priority: TicketPriority
    channel: TicketChannel
    subject: str
    language: str
    category: str
    customer_id: int
    customer_name: str | None
    assigned_agent: str | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    first_response_due_at: datetime
    resolution_due_at: datetime
    #: Set while the ticket is pending: its SLA clock stopped then (and the state is judged then).
    pending_since: datetime | None
    sla_state: SlaState

    @classmethod
    def of(cls, ticket: Ticket, sla_state: SlaState) -> TicketOut:
        return cls(
            reference=ticket.reference,
            status=ticket.status,
            priority=ticket.priority,
            channel=ticket.channel,
            subject=ticket.subject,
            language=ticket.language,
            category=ticket.category.code,
            customer_id=ticket.customer_id,
            customer_name=ticket.customer.display_name,
            assigned_agent=ticket.assigned_agent.username if ticket.assigned_agent else None,
            created_at=ticket.created_at,
            first_response_at=ticket.first_response_at,
            resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at,
            first_response_due_at=ticket.first_response_due_at,
            resolution_due_at=ticket.resolution_due_at,
            pending_since=ticket.pending_since,
            sla_state=sla_state,
        )


class TicketEventOut(BaseModel):
    kind: str
    actor: str | None
    body: str | None
    from_status: str | None
    to_status: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: TicketEvent) -> TicketEventOut:
        return cls(
            kind=event.kind.value,
            actor=event.actor.username if event.actor else event.actor_label,
            body=event.body,
            from_status=event.from_status,
            to_status=event.to_status,
            created_at=event.created_at,
        )


class TicketDetail(TicketOut):
    history: list[TicketEventOut]


class TicketCreated(BaseModel):
    ticket: TicketOut
    #: Shown once, to give to the customer; never retrievable again.
    secret_code: str


class TicketList(BaseModel):
    tickets: list[TicketOut]


class DocumentOut(BaseModel):
    code: str
    name_ar: str
    name_en: str


class TrackedTicket(BaseModel):
    reference: str
    status: TicketStatus
    category_en: str
    category_ar: str
    created_at: datetime
    resolution_due_at: datetime
    resolved_at: datetime | None
    #: Waiting on the customer: the answer time is on hold (the due time moves when it resumes).
    on_hold: bool
    #: The service's required documents the agency does not have yet, to bring to the next visit.
    documents_missing: list[DocumentOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, str]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
