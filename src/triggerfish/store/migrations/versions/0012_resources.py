"""Global resources (licenses): ``triggerfish resources set maya 5``

One row per resource with its ``total`` and who changed it last. What is in use is not
stored: it is counted from the instances that run.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resources")
