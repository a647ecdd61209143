"""SQLite: events.seq becomes the table's rowid (INTEGER PRIMARY KEY)

Declared BIGINT, the key was an index of its own beside the table, written for every event
(about ten per frame or task). As INTEGER PRIMARY KEY it is the rowid: one B-tree less per
insert, and the table is kept in event order. PostgreSQL keeps its bigint column.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _seq_type(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("events", recreate="always") as batch:
        batch.alter_column("seq", existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _seq_type(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _seq_type(sa.Integer(), sa.BigInteger())
