"""Opening the database: URL handling, SQLite pragmas, driver errors translated."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from triggerfish.errors import StoreError
from triggerfish.store.migrate import upgrade

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE as on PostgreSQL
    cur.close()


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def open_engine(url: str, *, migrate: bool = True) -> sa.Engine:
    """Create the SQLAlchemy engine for ``url`` and bring its schema up to date."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"--db: {url!r} is not a database URL ({exc})", field="db") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_size"] = 10
        kwargs["pool_pre_ping"] = True
    else:
        raise StoreError(
            f"--db: unsupported database {parsed.get_backend_name()!r} "
            "(use sqlite:///PATH or postgresql://...)",
            field="db",
        )
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as exc:  # driver import problems and bad options
        raise StoreError(f"cannot open database {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        try:
            upgrade(engine)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach database {parsed!r}: {exc.orig}") from exc
    return engine


@contextmanager
def translated() -> Iterator[None]:
    """Turn driver errors into StoreError at the store boundary."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        logger.exception("store error", extra={"action": "store.error"})
        raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc
    except Exception as exc:  # the driver's own (raw COPY and pipelines), not SQLAlchemy's
        if type(exc).__module__.split(".")[0] not in ("psycopg", "sqlite3"):
            raise
        logger.exception("store error", extra={"action": "store.error"})
        raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc
