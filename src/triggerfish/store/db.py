"""Opening the database: URL handling, SQLite pragmas, driver errors translated."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import event
from sqlalchemy.engine import make_url

from triggerfish.errors import StoreError, StoreRefused
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


def parse_url(url: str) -> sa.URL:
    url = normalize_url(url)
    try:
        return make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"--db: {url!r} is not a database URL ({exc})", field="db") from None


def open_engine(url: str, *, migrate: bool = True) -> sa.Engine:
    """Create the SQLAlchemy engine for ``url`` and bring its schema up to date."""
    parsed = parse_url(url)
    url = parsed.render_as_string()
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
            engine.dispose()
            raise StoreError(f"cannot reach database {parsed!r}: {one_line(exc.orig)}") from exc
        except (sa.exc.SQLAlchemyError, AlembicError) as exc:
            engine.dispose()
            newer = " (written by a newer triggerfish?)" if isinstance(exc, AlembicError) else ""
            raise StoreError(
                f"cannot bring database {parsed!r} to the schema of this version: "
                f"{one_line(getattr(exc, 'orig', None) or exc)}{newer}"
            ) from exc
    return engine


def one_line(exc: BaseException | None) -> str:
    """A driver's message on one line (libpq's come in several, with a tab-indented hint)."""
    lines = (" ".join(line.split()) for line in str(exc).splitlines())
    return "; ".join(line for line in lines if line)


def ping(engine: sa.Engine) -> str | None:
    """Whether the store answers: None if it does, else why not (for the readiness probe;
    nothing secret). A read of one of its tables, so that a store whose tables are gone is
    not ready either; for SQLite the file must still be where it was opened (connections
    that are open keep working on a file that was removed or moved away)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        return "the database file is gone"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT value FROM counters WHERE name = 'job_id'")).all()
    except sa.exc.SQLAlchemyError as exc:
        logger.warning("readiness: the store does not answer: %s", one_line(exc),
                       extra={"action": "store.ping"})  # fmt: skip
        return "the database does not answer"
    return None


DRIVERS = ("psycopg", "sqlite3")
# what binding a parameter raises for a value the driver cannot send (a lone surrogate, an
# integer beyond 64 bits on SQLite), unwrapped by SQLAlchemy
BIND_ERRORS = (UnicodeError, OverflowError)


def is_store_error(exc: BaseException) -> bool:
    """An error of the database or its driver (not of triggerfish's own code)."""
    return isinstance(exc, sa.exc.SQLAlchemyError) or (
        type(exc).__module__.split(".")[0] in DRIVERS
    )


def _refused_value(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, sa.exc.StatementError) else exc
    if isinstance(exc, sa.exc.DataError) or isinstance(orig, BIND_ERRORS):
        return True
    return any(c.__name__ == "DataError" for c in type(orig).__mro__)


def _disk_full(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "disk is full" in text or "no space left" in text or "could not extend file" in text


def store_failure(exc: BaseException) -> StoreError:
    """The error to raise (and answer) for a database error ``exc``: said in general terms,
    never quoting the SQL or the values (the detail goes to the log by the caller)."""
    if isinstance(exc, StoreError):
        return exc
    kind = type(getattr(exc, "orig", None) or exc).__name__
    if _refused_value(exc):
        return StoreRefused(
            f"the database cannot store a value of this request ({kind}): text with a NUL "
            "or a lone surrogate, or a number out of range"
        )
    if _disk_full(exc):
        return StoreError("the database cannot write: its disk is full")
    return StoreError(f"the database is unavailable or failed ({kind}); see the supervisor's log")


@contextmanager
def translated() -> Iterator[None]:
    """Turn driver errors into StoreError at the store boundary."""
    try:
        yield
    except BIND_ERRORS as exc:
        logger.exception("store error", extra={"action": "store.error"})
        raise store_failure(exc) from exc
    except Exception as exc:  # SQLAlchemy's, or the driver's own (raw COPY and pipelines)
        if not is_store_error(exc):
            raise
        logger.exception("store error", extra={"action": "store.error"})
        raise store_failure(exc) from exc
