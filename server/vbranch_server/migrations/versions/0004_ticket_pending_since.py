"""ticket pending_since: the SLA clock stops while a ticket waits on the customer

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vbranch_server.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pending_since", vbranch_server.db.types.UtcDateTime(timezone=True), nullable=True
            )
        )
    # Tickets already pending stopped their clock when they last became pending: the history
    # says when, so they are judged (and later resumed) like tickets paused after this revision.
    op.execute(
        "UPDATE tickets SET pending_since = (SELECT MAX(e.created_at) FROM ticket_events e "
        "WHERE e.ticket_id = tickets.id AND e.to_status = 'pending') WHERE status = 'pending'"
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a plain column in place. Batch mode would otherwise copy the table,
    # and dropping the old `tickets` fails on the history's foreign keys once it has rows.
    with op.batch_alter_table("tickets", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("pending_since")
