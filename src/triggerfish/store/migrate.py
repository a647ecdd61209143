"""Create or upgrade the schema with Alembic, on start."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext

MIGRATIONS = Path(__file__).parent / "migrations"
logger = logging.getLogger(__name__)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to the newest revision (a no-op when it is there already), saying
    so in one line when it was not (Alembic's own lines only at debug level)."""
    if not logger.isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        logger.info("database schema upgraded from %s to %s", before or "nothing", after,
                    extra={"action": "store.migrate"})  # fmt: skip
