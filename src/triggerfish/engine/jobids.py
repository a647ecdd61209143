"""Job ids: handed out by the engine (on its thread only).

Ids the engine took for a submission that was then refused, or whose commit failed (the state
is loaded again: :meth:`JobIds.rewind`), are used again.
"""

from __future__ import annotations


class JobIds:
    def __init__(self) -> None:
        self._next = 1

    @property
    def next(self) -> int:
        """The id the next :meth:`take` hands out."""
        return self._next

    def take(self, n: int = 1) -> int:
        """``n`` consecutive ids; the first of them."""
        first = self._next
        self._next = first + n
        return first

    def give_back(self, first: int, n: int) -> None:
        """The ``n`` ids from ``first`` were not used (a refused submission): handed out again,
        if nothing was taken after them."""
        if self._next == first + n:
            self._next = first

    def skip_through(self, job_id: int) -> None:
        """Ids up to ``job_id`` are used (given to tasks answered by an older triggerfish):
        never handed out."""
        self._next = max(self._next, job_id + 1)

    def rewind(self, nxt: int) -> None:
        """Back to the store's counter (``nxt``: the id after its last) once the state is
        loaded again."""
        self._next = nxt
