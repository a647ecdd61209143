"""Hosts: a lock (``triggerfish host lock``) that survives a restart of the supervisor

``locked_by`` (who locked it) and ``locked_at`` (when): both NULL while the host is not
locked. A locked host gets no new work; what runs on it finishes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch_op:
        batch_op.add_column(sa.Column("locked_by", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("locked_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch_op:
        batch_op.drop_column("locked_at")
        batch_op.drop_column("locked_by")
