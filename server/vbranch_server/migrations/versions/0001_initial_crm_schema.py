"""initial CRM schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vbranch_server.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendars")),
        sa.UniqueConstraint("name", name=op.f("uq_calendars_name")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("preferred_language", sa.String(length=8), nullable=False),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_phone"), ["phone"], unique=False)

    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "agent",
                "supervisor",
                "admin",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("sign_language", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )
    op.create_table(
        "ticket_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_ticket_counters")),
    )
    op.create_table(
        "calendar_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_calendar_holidays_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_holidays")),
        sa.UniqueConstraint("calendar_id", "day", name="uq_calendar_holidays_day"),
    )
    op.create_table(
        "service_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name_ar", sa.String(length=120), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("required_skills", sa.JSON(), nullable=False),
        sa.Column("required_documents", sa.JSON(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("resolution_working_days", sa.Integer(), nullable=False),
        sa.Column("first_response_working_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "first_response_working_days BETWEEN 0 AND resolution_working_days",
            name=op.f("ck_service_categories_first_response_before_resolution"),
        ),
        sa.CheckConstraint(
            "resolution_working_days BETWEEN 1 AND 10",
            name=op.f("ck_service_categories_resolution_within_10_working_days"),
        ),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_service_categories_calendar_id_calendars"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_service_categories_code")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_sessions_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_staff_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("secret_code_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "open",
                "pending",
                "resolved",
                "closed",
                name="ticket_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="ticket_priority",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "video",
                "web_request",
                "phone",
                "counter",
                name="ticket_channel",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("assigned_agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "first_response_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("resolved_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "first_response_due_at",
            vbranch_server.db.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "resolution_due_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "resolution_at_risk_at",
            vbranch_server.db.types.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assigned_agent_id"],
            ["staff_users.id"],
            name=op.f("fk_tickets_assigned_agent_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_tickets_category_id_service_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tickets_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("reference", name=op.f("uq_tickets_reference")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_agent_status", ["assigned_agent_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_tickets_status_due", ["status", "resolution_due_at"], unique=False
        )

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("storage_name", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document_code", sa.String(length=48), nullable=True),
        sa.Column("uploaded_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_customer", sa.Boolean(), nullable=False),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_attachments_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_attachments_uploaded_by_staff_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("storage_name", name=op.f("uq_attachments_storage_name")),
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "created",
                "note",
                "status_change",
                "assignment",
                "attachment",
                name="ticket_event_kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_ticket_events_actor_staff_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["staff_users.id"],
            name=op.f("fk_ticket_events_assigned_to_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_events_ticket_id"), ["ticket_id"], unique=False)

    _make_ticket_history_append_only()


def downgrade() -> None:
    _drop_ticket_history_guards()
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_events_ticket_id"))

    op.drop_table("ticket_events")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_ticket_id"))

    op.drop_table("attachments")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_due")
        batch_op.drop_index(batch_op.f("ix_tickets_customer_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_category_id"))
        batch_op.drop_index("ix_tickets_agent_status")

    op.drop_table("tickets")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_staff_sessions_expires_at"))

    op.drop_table("staff_sessions")
    op.drop_table("service_categories")
    op.drop_table("calendar_holidays")
    op.drop_table("ticket_counters")
    op.drop_table("staff_users")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_phone"))

    op.drop_table("customers")
    op.drop_table("calendars")


# The ticket history is evidence of who did what and when: the database itself refuses to rewrite it.
_GUARDED = ("UPDATE", "DELETE")


def _make_ticket_history_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in _GUARDED:
            op.execute(
                f"CREATE TRIGGER ticket_events_no_{action.lower()} BEFORE {action} ON ticket_events "
                "BEGIN SELECT RAISE(ABORT, 'ticket history is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'ticket history is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events "
        "FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only()"
    )


def _drop_ticket_history_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in _GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS ticket_events_no_{action.lower()}")
        return
    op.execute("DROP TRIGGER IF EXISTS ticket_events_append_only ON ticket_events")
    op.execute("DROP FUNCTION IF EXISTS ticket_events_append_only()")
