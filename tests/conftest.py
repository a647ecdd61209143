"""Shared fixtures: a database URL per supported store, a temporary data dir.

PostgreSQL tests use the server named by TRIGGERFISH_TEST_PG (default: the local one at
127.0.0.1:5432, database ``test``), each test in a schema of its own. Without a reachable
PostgreSQL they skip with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("TRIGGERFISH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_ok: bool | None = None


def pg_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            eng = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(sa.text("select 1"))
            eng.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


def require_pg() -> None:
    if pg_available():
        return
    msg = f"PostgreSQL is not reachable at {PG_URL} (set TRIGGERFISH_TEST_PG)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " — CI must test PostgreSQL")
    pytest.skip(msg)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg()
    schema = "tf_" + uuid.uuid4().hex[:12]
    eng = sa.create_engine(PG_URL)
    with eng.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with eng.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage and engine test runs once per supported store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triggerfish.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C works in the processes the tests start, however the suite itself was started: a
    shell without job control starts a background command (``.ci/run &``) with SIGINT ignored,
    every child inherits that, and Python then installs no KeyboardInterrupt handler
    (``events --follow`` would not stop on SIGINT)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
