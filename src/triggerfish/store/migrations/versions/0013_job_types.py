"""Job types (issue 18): an agenda item's own package, the job types a host offers

``work.package``: the item's own package (Qube's ``Work.package``); NULL when it has none,
so that the items of an ordinary job cost nothing more. ``hosts.jobtypes``: the job types
its worker said it runs when it registered (NULL before this version: none).
``jobs.prototype`` holds a job type's name (up to 64 characters) besides the built-in ones.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work") as batch_op:
        batch_op.add_column(sa.Column("package", sa.JSON, nullable=True))
    with op.batch_alter_table("hosts") as batch_op:
        batch_op.add_column(sa.Column("jobtypes", sa.JSON, nullable=True))
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.alter_column(
            "prototype", existing_type=sa.String(16), type_=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.alter_column(
            "prototype", existing_type=sa.String(64), type_=sa.String(16), existing_nullable=False
        )
    with op.batch_alter_table("hosts") as batch_op:
        batch_op.drop_column("jobtypes")
    with op.batch_alter_table("work") as batch_op:
        batch_op.drop_column("package")
