"""Drop the jobs (priority, id) index: nothing reads through it

Dispatch order (priority, then id) is kept by the engine in memory, and no query filters or
sorts jobs by priority; the index was one more B-tree written for every job added, and again
whenever a job's priority changes.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_priority_id")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_priority_id", ["priority", "id"], unique=False)
