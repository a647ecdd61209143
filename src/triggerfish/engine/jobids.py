"""Job ids: handed out by the engine, and ahead of it by the server's intake (another thread).

A task the intake accepts has its id before the engine has seen it (the answer carries it), so
the counter is shared between the two threads and guarded by a lock of its own, not the
engine's. An id the intake handed out is never handed out again, even when the engine throws
away a batch and goes back to the store's counter (:meth:`JobIds.rewind`): the journal holds
the task, and the engine adds it again with that id. Ids the engine took for a submission that
was then refused, or whose commit failed, are used again, as long as no intake id came after.
"""

from __future__ import annotations

import threading


class JobIds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 1
        self._held = 1  # one past the highest id the intake handed out

    @property
    def next(self) -> int:
        """The id the next :meth:`take` hands out."""
        return self._next

    def take(self, n: int = 1, *, held: bool = False) -> int:
        """``n`` consecutive ids; the first of them. ``held``: for the intake (kept through a
        rewind)."""
        with self._lock:
            first = self._next
            self._next = first + n
            if held:
                self._held = self._next
            return first

    def give_back(self, first: int, n: int) -> None:
        """The ``n`` ids from ``first`` were not used (a refused submission): handed out again,
        if nothing was taken after them."""
        with self._lock:
            if self._next == first + n and first >= self._held:
                self._next = first

    def hold_through(self, job_id: int) -> None:
        """Ids up to ``job_id`` belong to journaled tasks: never handed out again."""
        with self._lock:
            self._held = max(self._held, job_id + 1)
            self._next = max(self._next, self._held)

    def rewind(self, nxt: int) -> None:
        """Back to the store's counter (``nxt``: the id after its last) once the state is
        loaded again; not below an id the intake handed out."""
        with self._lock:
            self._next = max(nxt, self._held)
