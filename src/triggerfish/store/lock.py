"""One supervisor per database: the lock that is the right to serve it.

A supervisor takes its database's lock before it changes anything (before migrations, before
the engine loads) and holds it for its whole life; a second supervisor on the same database
does not get it and stops with one line naming the first (:class:`AlreadyServed`). The lock
is the database's own, so it holds across hosts:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, opened for nothing else. Its key is derived from the database's name and the store's
  schema (the first of the search path), so that stores in other schemas of one database do
  not collide. The lock lasts as long as that session: if the connection is lost, so is the
  lock, and :meth:`AdvisoryLock.watch` tells the supervisor, which must stop serving.
- SQLite: ``flock`` on ``<database file>.lock`` next to the database. Not a lock on the
  database file itself: SQLite's own locks there are POSIX record locks, and on NFS ``flock``
  is emulated with those (ours would then fight SQLite's), and any close of the database by a
  connection would drop a POSIX lock of ours. An ``flock`` lasts as long as the open file, so
  a supervisor that dies (even SIGKILLed) leaves it free at once. A lock file removed or
  replaced under a running supervisor is its lock lost (a second one could lock the new file).

The holder writes who it is (:class:`Holder`: host, pid, URL, since when): into the lock file
(SQLite) and, once it has migrated the schema, into the ``supervisors`` table (both stores;
what a second supervisor reads on PostgreSQL, checked against the lock's holder in
``pg_locks`` so that a row left by an earlier holder is never quoted).

A standby (a later step) takes the same lock blocking instead of trying it: it waits in
``pg_advisory_lock`` / ``flock(LOCK_EX)`` and, once granted, migrates, loads the engine and
serves, as a first start does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from triggerfish import __version__
from triggerfish.errors import Conflict, StoreError
from triggerfish.store.db import one_line, parse_url
from triggerfish.store.tables import supervisors

logger = logging.getLogger(__name__)

ROLE = "active"  # the role of the holder; a standby will be another
WHO_WAIT = 3.0  # seconds a second supervisor waits for the holder to say who it is
RETRY_FOR = 1.0  # seconds a second supervisor tries the PostgreSQL lock before it gives up
WATCH_EVERY = 1.0  # seconds between two checks that the lock is still held
# the lock's connection: a dead peer is noticed within seconds, also while a check waits
PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # (libpq 12 and later: see pg_connect_args)
    "application_name": "triggerfish supervisor lock",
}


def pg_connect_args() -> dict[str, Any]:
    """``PG_CONNECT_ARGS`` that the libpq in use knows."""
    import psycopg

    if psycopg.pq.version() >= 120000:
        return dict(PG_CONNECT_ARGS)
    return {k: v for k, v in PG_CONNECT_ARGS.items() if k != "tcp_user_timeout"}


@dataclass(frozen=True)
class Holder:
    """Who serves a database."""

    host: str
    pid: int
    url: str
    started: float
    version: str = __version__
    session: int | None = None  # PostgreSQL: the backend pid of the lock's session

    @classmethod
    def me(cls, url: str) -> Holder:
        return cls(socket.gethostname(), os.getpid(), url, time.time())

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"the supervisor on host {self.host}, pid {self.pid}, at {self.url} (since {since})"

    def row(self) -> dict[str, Any]:
        return {"role": ROLE, **asdict(self)}

    @classmethod
    def of(cls, data: Any) -> Holder | None:
        """From a row or the lock file's JSON; None if it is not one."""
        try:
            return cls(str(data["host"]), int(data["pid"]), str(data["url"]),
                       float(data["started"]), str(data.get("version") or "?"),
                       None if data.get("session") is None else int(data["session"]))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


class AlreadyServed(Conflict):
    """Another supervisor holds the database."""

    code = "already_served"

    def __init__(self, holder: Holder | None, detail: str = "") -> None:
        who = holder.describe() if holder is not None else f"another supervisor{detail}"
        super().__init__(
            f"the database is already served by {who}; one supervisor serves a database "
            "(stop that one first, or give this one another --db)",
            field="db",
        )
        self.holder = holder


class ServeLock:
    """The lock of a database nothing else can share (in memory): always ours."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder

    def record(self, engine: sa.Engine) -> None:
        """Write the holder into the ``supervisors`` table (the schema is migrated)."""
        with engine.begin() as conn:
            conn.execute(sa.delete(supervisors).where(supervisors.c.role == ROLE))
            conn.execute(sa.insert(supervisors).values(self.holder.row()))

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Call ``on_lost(why)`` (from another thread) if the lock is lost."""

    def release(self) -> None:
        """Give the lock up (at exit)."""


class FileLock(ServeLock):
    """SQLite: ``flock`` on the database's sidecar ``<file>.lock``, which says who holds it."""

    def __init__(self, path: Path, holder: Holder) -> None:
        super().__init__(holder)
        self.path = path
        self._stop = threading.Event()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {str(path)!r}: {exc.strerror}") from exc
        self._held = False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = self._who()
            self.release()
            raise AlreadyServed(other) from None
        self._held = True
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps(asdict(holder)).encode() + b"\n", 0)
            os.fsync(self._fd)
        except OSError as exc:
            self.release()
            raise StoreError(f"cannot write the lock file {str(path)!r}: {exc.strerror}") from exc

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """A thread that checks every second that the lock file is still the one locked: one
        removed or replaced (by hand, a clean-up) would let a second supervisor lock another."""
        assert self._fd is not None
        mine = os.fstat(self._fd)

        def run() -> None:
            while not self._stop.wait(WATCH_EVERY):
                try:
                    now = os.stat(self.path)
                    same = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
                except OSError:
                    same = False
                if not same and not self._stop.is_set():
                    on_lost(f"the lock file {self.path} was removed or replaced")
                    return

        threading.Thread(target=run, name="tf-db-lock", daemon=True).start()

    def _who(self) -> Holder | None:
        """The holder, from the file it writes once it holds the lock (a moment later)."""
        assert self._fd is not None
        deadline = time.monotonic() + WHO_WAIT
        while True:
            try:
                holder = Holder.of(json.loads(os.pread(self._fd, 65536, 0)))
            except ValueError:
                holder = None
            if holder is not None or time.monotonic() > deadline:
                return holder
            time.sleep(0.1)

    def release(self) -> None:
        self._stop.set()
        if self._fd is not None:
            if self._held:  # (still holding it: nobody reads a half)
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
            os.close(self._fd)  # the lock goes with the file
            self._fd = None


def pg_key(database: str, schema: str) -> int:
    """The advisory lock key of a store: a signed 64-bit hash of its database and schema."""
    digest = hashlib.blake2b(f"triggerfish supervisor\0{database}\0{schema}".encode(),
                             digest_size=8).digest()  # fmt: skip
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock(ServeLock):
    """PostgreSQL: a session-level advisory lock, on a connection of its own."""

    def __init__(self, url: sa.URL, holder: Holder) -> None:
        self._engine = sa.create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=pg_connect_args()
        )
        self._guard = threading.Lock()  # the connection: one statement at a time
        self._stop = threading.Event()
        self._conn: sa.Connection | None = None
        try:
            self._conn = self._engine.connect()
            row = self._one(
                "SELECT current_database(), "
                "coalesce(current_schema(), current_setting('search_path'))"
            )
            self.key = pg_key(str(row[0]), str(row[1]))
            if not self._try():
                other, detail = self._who()
                self.release()
                raise AlreadyServed(other, detail)
            session = int(self._one("SELECT pg_backend_pid()")[0])
        except sa.exc.SQLAlchemyError as exc:
            self.release()
            raise StoreError(
                f"cannot reach database {url!r}: {one_line(getattr(exc, 'orig', None) or exc)}"
            ) from exc
        super().__init__(Holder(**{**asdict(holder), "session": session}))

    def _one(self, sql: str, **params: Any) -> tuple[Any, ...]:
        assert self._conn is not None
        with self._guard:
            return tuple(self._conn.execute(sa.text(sql), params).one())

    def _try(self) -> bool:
        """Try the lock for a moment: a holder that just died (a supervisor restarted at once)
        leaves a session that PostgreSQL ends a few milliseconds later."""
        deadline = time.monotonic() + RETRY_FOR
        while not self._one("SELECT pg_try_advisory_lock(:k)", k=self.key)[0]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _who(self) -> tuple[Holder | None, str]:
        """The holder's row, once it is the lock holder's own (it writes it after migrating);
        else what PostgreSQL says of the session holding the lock."""
        k = self.key & 0xFFFFFFFFFFFFFFFF
        deadline = time.monotonic() + WHO_WAIT
        while True:
            session = self._one(
                "SELECT min(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid = :hi AND l.objid = :lo AND d.datname = current_database()",
                hi=k >> 32, lo=k & 0xFFFFFFFF,
            )[0]  # fmt: skip
            holder = self._row()
            if holder is not None and holder.session == session:
                return holder, ""
            if time.monotonic() > deadline or session is None:
                return None, "" if session is None else f" (PostgreSQL session {session})"
            time.sleep(0.2)

    def _row(self) -> Holder | None:
        assert self._conn is not None
        try:
            with self._guard:
                row = self._conn.execute(
                    sa.select(supervisors).where(supervisors.c.role == ROLE)
                ).first()
        except sa.exc.ProgrammingError:  # no table yet: the holder is migrating
            return None
        return None if row is None else Holder.of(row._mapping)

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """A thread that checks the lock's connection every second; a check that fails (the
        session was ended, the server went away, the network: within ~10 s) is the lock lost."""

        def run() -> None:
            while not self._stop.wait(WATCH_EVERY):
                try:
                    self._one("SELECT 1")
                except Exception as exc:  # whatever broke the session, the lock is gone
                    if not self._stop.is_set():
                        on_lost(one_line(getattr(exc, "orig", None) or exc))
                    return

        threading.Thread(target=run, name="tf-db-lock", daemon=True).start()

    def release(self) -> None:
        self._stop.set()
        if self._conn is not None:
            try:
                with self._guard:
                    self._conn.close()  # the session ends: its advisory lock with it
            except sa.exc.SQLAlchemyError:
                pass
            self._conn = None
        self._engine.dispose()


def claim(url: str, holder: Holder) -> ServeLock:
    """Take the lock of the database at ``url`` for ``holder``, or raise :class:`AlreadyServed`
    (another supervisor holds it) or :class:`StoreError` (the database is unreachable)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return AdvisoryLock(parsed, holder)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return FileLock(Path(f"{parsed.database}.lock"), holder)
    return ServeLock(holder)
