"""Jobs: the status and user indexes carry the id, so pages of jobs read them in id order

The web page's jobs table (newest first, 50 at a time, filtered by status or user) reads a
range of ``(status, id)`` or ``(user, id)`` backwards and stops after one page. With the
single-column indexes, PostgreSQL fetched every job of that status or user and sorted them
(100,000 for ``status=active``: 0.4 s); on SQLite they held the rowid (the id) already, so
nothing changes there but the names. Same number of indexes: no more writes per job.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_status")
        batch_op.drop_index("ix_jobs_user")
        batch_op.create_index("ix_jobs_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_jobs_user_id", ["user", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_status_id")
        batch_op.drop_index("ix_jobs_user_id")
        batch_op.create_index("ix_jobs_status", ["status"], unique=False)
        batch_op.create_index("ix_jobs_user", ["user"], unique=False)
