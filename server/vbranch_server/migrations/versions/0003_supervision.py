"""supervisor audit log and queue samples

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vbranch_server.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "supervisor_actions",
        sa.Column("id", ID, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_supervisor_actions_staff_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisor_actions")),
    )
    with op.batch_alter_table("supervisor_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supervisor_actions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supervisor_actions_staff_id"), ["staff_id"], unique=False
        )
    op.create_table(
        "queue_samples",
        sa.Column("id", ID, nullable=False),
        sa.Column("taken_at", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(length=120), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("answered_in_time", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_samples")),
        sa.UniqueConstraint("taken_at", "queue", name=op.f("uq_queue_samples_minute")),
    )


def downgrade() -> None:
    op.drop_table("queue_samples")
    with op.batch_alter_table("supervisor_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervisor_actions_staff_id"))
        batch_op.drop_index(batch_op.f("ix_supervisor_actions_created_at"))
    op.drop_table("supervisor_actions")
