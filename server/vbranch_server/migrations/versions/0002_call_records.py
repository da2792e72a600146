"""call records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vbranch_server.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=120), nullable=False),
        sa.Column(
            "enqueued_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "accepted_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "connected_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("ended_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Double(), nullable=False),
        sa.Column("talk_seconds", sa.Double(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["staff_users.id"], name=op.f("fk_calls_agent_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_calls_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_calls_call_id")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_visit_id"), ["visit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_visit_id"))
        batch_op.drop_index(batch_op.f("ix_calls_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_calls_agent_id"))

    op.drop_table("calls")
