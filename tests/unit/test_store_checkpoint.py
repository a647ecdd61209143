"""SQLite WAL checkpoints in their own thread (store/checkpoint.py), on a real database file."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from triggerfish.store.checkpoint import Checkpointer
from triggerfish.store.store import Store


def writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies the log back
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return conn


def commit_rows(conn: sqlite3.Connection, n: int, ckpt: Checkpointer | None) -> None:
    for _ in range(n):
        conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 2000,))  # autocommit: one commit
        if ckpt is not None:
            ckpt.committed()


def settle(path: Path, timeout: float = 10.0) -> int:
    """The database file's size once it stops changing."""
    end = time.monotonic() + timeout
    size = -1
    while time.monotonic() < end:
        now = path.stat().st_size
        if now == size:
            return now
        size = now
        time.sleep(0.2)
    return size


def test_the_log_is_copied_back_every_few_commits_without_the_writer(tmp_path: Path) -> None:
    lone, helped = tmp_path / "lone.db", tmp_path / "helped.db"
    a, b = writer(lone), writer(helped)
    ckpt = Checkpointer(str(helped), every=8)
    try:
        commit_rows(a, 64, None)
        commit_rows(b, 64, ckpt)
        # 64 rows of 2 kB: about 32 pages; without checkpoints they are only in the log
        assert settle(lone) <= 3 * 4096
        assert settle(helped) >= 24 * 4096
        assert b.execute("SELECT count(*) FROM t").fetchone() == (64,)
    finally:
        ckpt.close()
        a.close()
        b.close()


def test_closing_the_store_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    def alive() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == "triggerfish-checkpoint"]

    before = len(alive())
    store = Store(f"sqlite:///{tmp_path / 'tf.db'}")
    assert len(alive()) == before + 1
    store.close()
    assert len(alive()) == before
