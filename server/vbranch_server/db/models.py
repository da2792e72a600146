"""The CRM's tables: customers, staff, service categories, calendars, tickets and their history."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vbranch_server.db.types import UtcDateTime

# Fixed constraint names, so migrations name the same things on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value is a migration, not a type rewrite.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class StaffRole(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketChannel(enum.StrEnum):
    VIDEO = "video"
    WEB_REQUEST = "web_request"
    PHONE = "phone"
    COUNTER = "counter"


class TicketEventKind(enum.StrEnum):
    CREATED = "created"
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    ASSIGNMENT = "assignment"
    ATTACHMENT = "attachment"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    preferred_language: Mapped[str] = mapped_column(String(8), default="ar")
    created_at: Mapped[datetime]


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    #: Skills: the languages spoken, the service categories (codes) served, sign language.
    languages: Mapped[list[Any]] = mapped_column(default=list)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    sign_language: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class StaffSession(Base):
    """A logged-in staff member; the cookie carries the token, the table only its hash."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[StaffUser] = relationship(lazy="joined")


class BusinessCalendarRow(Base):
    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    #: {"sat": [["08:00", "20:00"]], ...}; several intervals a day are allowed.
    weekly_hours: Mapped[dict[str, Any]]
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))

    custom_holidays: Mapped[list[CalendarHoliday]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="CalendarHoliday.day"
    )


class CalendarHoliday(Base):
    """A closing day an administrator adds on top of the country's public holidays."""

    __tablename__ = "calendar_holidays"
    __table_args__ = (UniqueConstraint("calendar_id", "day", name="uq_calendar_holidays_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120))


class ServiceCategory(Base):
    __tablename__ = "service_categories"
    __table_args__ = (
        CheckConstraint(
            "resolution_working_days BETWEEN 1 AND 10", name="resolution_within_10_working_days"
        ),
        CheckConstraint(
            "first_response_working_days BETWEEN 0 AND resolution_working_days",
            name="first_response_before_resolution",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name_ar: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    #: Skills an agent needs beyond the category itself (e.g. "sign_language"); routing reads them.
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    #: [{"code": ..., "name_ar": ..., "name_en": ...}]: a request without them is not forwarded.
    required_documents: Mapped[list[Any]] = mapped_column(default=list)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"))
    resolution_working_days: Mapped[int] = mapped_column(Integer)
    first_response_working_days: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    calendar: Mapped[BusinessCalendarRow] = relationship(lazy="joined")


class TicketCounter(Base):
    """The last reference number handed out in a year: VB-YYYY-NNNNNN."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_due", "status", "resolution_due_at"),
        Index("ix_tickets_agent_status", "assigned_agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    #: Hash of the code the customer follows the ticket with; the code itself is never stored.
    secret_code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"))
    priority: Mapped[TicketPriority] = mapped_column(_enum(TicketPriority, "ticket_priority"))
    channel: Mapped[TicketChannel] = mapped_column(_enum(TicketChannel, "ticket_channel"))
    subject: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="ar")
    category_id: Mapped[int] = mapped_column(ForeignKey("service_categories.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime]
    resolution_due_at: Mapped[datetime]
    #: From this instant less than 20 % of the working time is left: lets SQL filter by SLA state.
    resolution_at_risk_at: Mapped[datetime]
    #: When the ticket last became pending (waiting on the customer); set only while it is.
    #: The resolution clock stops there: leaving pending moves both deadlines later.
    pending_since: Mapped[datetime | None]

    category: Mapped[ServiceCategory] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    assigned_agent: Mapped[StaffUser | None] = relationship(lazy="joined")


class TicketEvent(Base):
    """The ticket's history. Append-only: the migration installs triggers refusing UPDATE and DELETE."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[TicketEventKind] = mapped_column(_enum(TicketEventKind, "ticket_event_kind"))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    #: Who acted when no staff member did: "customer" or "system".
    actor_label: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]

    actor: Mapped[StaffUser | None] = relationship(foreign_keys=[actor_staff_id], lazy="joined")


class Attachment(Base):
    """A file stored under a random name in the data folder; its real name is only metadata."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    document_code: Mapped[str | None] = mapped_column(String(48))
    uploaded_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    uploaded_by_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class CallUploads(Base):
    """What a customer has sent during one call, so far: the per-call caps are checked against
    it by one conditional upsert (crm/upload_quota.py), never by a read followed by a write."""

    __tablename__ = "call_uploads"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Files stored or being received (a reservation is counted before its body is read).
    files: Mapped[int] = mapped_column(Integer)
    #: Their bytes: the stored sizes, and for files still arriving the most they may bring.
    bytes: Mapped[int] = mapped_column(BigInteger)


class CallRecord(Base):
    """One video call: how long the customer waited, how long they talked, how it ended."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    visit_id: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(120))
    enqueued_at: Mapped[datetime]
    accepted_at: Mapped[datetime]
    connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_seconds: Mapped[float]
    talk_seconds: Mapped[float | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(48))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)


class SupervisorAction(Base):
    """The audit log of supervisor actions on the live queue: who did what, to whom, when."""

    __tablename__ = "supervisor_actions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    #: set_priority, move, offer_to, set_agent_state or remove_from_line.
    action: Mapped[str] = mapped_column(String(32))
    #: The customer (visit id) or agent (staff id) acted on.
    target: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]

    staff: Mapped[StaffUser] = relationship(lazy="joined")


class QueueSample(Base):
    """Each queue's waiting count and day counters, once a minute, for the dashboard's charts."""

    __tablename__ = "queue_samples"
    __table_args__ = (UniqueConstraint("taken_at", "queue", name="uq_queue_samples_minute"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: The start of the minute sampled: two processes sampling one minute store it once.
    taken_at: Mapped[datetime]
    queue: Mapped[str] = mapped_column(String(120))
    waiting: Mapped[int] = mapped_column(Integer)
    #: The routing store's counters for the day so far (they restart at the day's start).
    answered: Mapped[int] = mapped_column(Integer)
    answered_in_time: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
