"""SQLite: WAL checkpoints in a thread of their own, off the engine's commits.

In WAL mode every commit appends its pages to the write-ahead log, and about every 1,000
pages the connection that commits copies the log back into the database file and syncs it:
10-20 ms during which that commit, and so the engine (the server's own thread on SQLite),
waits. Here a thread with its own connection runs a ``PASSIVE`` checkpoint every ``EVERY``
commits: it takes no lock the writer needs, and SQLite lets go of the GIL while it copies and
syncs, so the engine goes on committing. The writer's own automatic checkpoint stays on: when
it comes, the log has been copied almost all, so it has little left to do, and it lets the
log start over from the beginning (the log does not grow while commits keep coming).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

EVERY = 32  # commits (a task's add or report writes about a dozen pages)


class Checkpointer:
    def __init__(self, path: str, every: int = EVERY) -> None:
        self._path = path
        self._every = every
        self._commits = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="triggerfish-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called by the writer after each commit."""
        self._commits += 1
        if self._commits >= self._every:
            self._commits = 0
            self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the writer's own checkpoints still run
                    logger.warning(
                        "WAL checkpoint failed: %s", exc, extra={"action": "store.checkpoint"}
                    )
        finally:
            conn.close()
