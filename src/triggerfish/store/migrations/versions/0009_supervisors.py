"""Supervisors: who holds the database (one supervisor per database)

The supervisor that holds the database's lock (a PostgreSQL advisory lock, a lock on the
SQLite file's sidecar) writes itself here, so that a second one can name it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisors",
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("session", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("supervisors")
