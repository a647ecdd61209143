"""The migrations build the schema the code declares, and upgrades keep what is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from triggerfish.store import tables
from triggerfish.store.db import open_engine
from triggerfish.store.migrate import alembic_config

EVENTS_SCHEMA = "SELECT name FROM sqlite_master WHERE tbl_name = 'events'"


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, tables.metadata))


def test_the_migrated_schema_is_the_declared_one(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_sqlite_events_keep_their_rows_when_seq_becomes_the_rowid(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0006")
        conn.exec_driver_sql(
            "INSERT INTO events (seq, time, name, type, job, data) VALUES "
            "(1, 10.0, 'submit', 'job', 1, '{\"todo\": 1}'), (2, 11.0, 'done', 'job', 1, NULL)"
        )
    engine.dispose()
    with sqlite3.connect(path) as con:  # before: the key is an index of its own
        before = {r[0] for r in con.execute(EVENTS_SCHEMA)}
    assert "sqlite_autoindex_events_1" in before

    engine = open_engine(f"sqlite:///{path}")  # upgrades to the newest revision
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()
    with sqlite3.connect(path) as con:
        names = {r[0] for r in con.execute(EVENTS_SCHEMA)}
        rows = con.execute("SELECT seq, rowid, name, data FROM events ORDER BY seq").fetchall()
    assert names == {"events", "ix_events_job_seq"}
    assert rows == [(1, 1, "submit", '{"todo": 1}'), (2, 2, "done", None)]
