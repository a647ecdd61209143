"""Durable timers of the engine: a heap in memory, one row per timer in the ``timers`` table.

A timer is ``(key, due, kind, payload)``: at ``due`` (unix seconds, wall clock) the handler
registered for ``kind`` runs *inside the engine's batch*, so whatever it changes (events, jobs,
callbacks, the timer's own removal or rescheduling) is committed in one transaction. A SIGKILL
therefore neither loses nor doubles a firing: before the commit the timer is still stored as
due; after it, its effect and its removal (or next due time) are both stored.

API — call it only on the engine thread (inside a command, a handler, or the loop)::

    from triggerfish.engine import timers

    @timers.handler("my-kind")                  # one handler per kind, at import time
    def _fire(state: State, timer: timers.Timer) -> None:
        ...                                     # change state, emit events (state.now >= due)
        # a repeating timer reschedules itself on its fixed grid (no drift, missed periods
        # skipped: one firing after downtime):
        nxt = timers.next_on_grid(timer.payload["anchor"], timer.payload["every"], state.now)
        state.timers.add(timer.key, nxt, timer.kind, timer.payload)

    state.timers.add(key, due, kind, payload)   # schedule; replaces the timer with that key
    state.timers.cancel(key)                    # forget it (False when there was none)
    state.timers.get(key)                       # the pending Timer, or None
    key in state.timers, len(state.timers)

Rules:

- ``key``: a non-empty string of at most ``MAX_KEY`` characters, unique; prefix it with your
  kind (``"task:42"``) so kinds do not collide. ``payload``: a JSON-ready dict (stored as JSON).
- ``kind`` must have a handler when the timer is added (a typo fails at once). A stored timer
  whose kind has no handler when it is due (a module not imported) is kept and retried
  ``RETRY_DELAY`` seconds later, with an error logged.
- Timers fire in ``(due, order added)`` order, never before ``due``: the engine loop sleeps
  exactly until the next due time (no polling) and fires every timer whose time has come
  before it runs the commands of that batch.
- Before a handler runs, its timer is removed; the handler may ``add`` the same key again
  (reschedule) or add and cancel others.
- A handler that raises throws its batch away (the engine reloads the state from the store, as
  for a failing command) and its timer is retried ``RETRY_DELAY`` seconds later; other timers
  and commands go on.
- After a restart every stored timer is back; one whose time passed while the supervisor was
  down fires once, at once (its handler sees ``state.now - timer.due`` > 0).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from triggerfish.errors import TriggerfishError
from triggerfish.store.changes import Row

logger = logging.getLogger(__name__)

MAX_KEY = 512
MAX_KIND = 64
RETRY_DELAY = 60.0  # seconds before a timer whose handler failed (or is missing) is retried
MAX_PER_BATCH = 20_000  # timers fired in one batch; the rest fire in the next one, at once

Handler = Callable[[Any, "Timer"], None]
_HANDLERS: dict[str, Handler] = {}


class HandlerFailed(TriggerfishError):
    """A timer handler raised: the loop throws the batch away and retries the timer later."""

    def __init__(self, timer: Timer, cause: BaseException) -> None:
        super().__init__(f"timer {timer.key!r} ({timer.kind}) failed: {cause!r}")
        self.timer = timer
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Timer:
    """One pending timer. ``seq`` orders timers with the same ``due`` (order added)."""

    key: str
    due: float
    kind: str
    payload: dict[str, Any]
    seq: int = 0

    def row(self) -> Row:
        return {"key": self.key, "due": self.due, "kind": self.kind, "payload": self.payload}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Decorator: ``fn(state, timer)`` runs when a timer of ``kind`` is due."""

    def register(fn: Handler) -> Handler:
        register_handler(kind, fn)
        return fn

    return register


def register_handler(kind: str, fn: Handler) -> None:
    """Register ``fn(state, timer)`` for ``kind`` (registering the same function is a no-op)."""
    if not kind or len(kind) > MAX_KIND:
        raise ValueError(f"timer kind must be 1 to {MAX_KIND} characters, got {kind!r}")
    known = _HANDLERS.get(kind)
    if known is not None and known is not fn:
        raise ValueError(f"timer kind {kind!r} already has a handler ({known.__qualname__})")
    _HANDLERS[kind] = fn


def next_on_grid(anchor: float, every: float, after: float) -> float:
    """The first time ``anchor + k * every`` (k = 0, 1, …) strictly later than ``after``.

    Fixed rate: the grid depends on ``anchor`` only, never on when a firing ran, so runs do
    not drift, and after a long pause the missed periods are skipped (not caught up one by
    one).
    """
    if not every > 0 or not math.isfinite(every):
        raise ValueError(f"every must be a positive number of seconds, got {every!r}")
    if after < anchor:
        return anchor
    k = math.floor((after - anchor) / every) + 1
    due = anchor + k * every
    while due <= after:  # float rounding
        k += 1
        due = anchor + k * every
    return due


class Timers:
    """The pending timers of the engine (see the module docstring).

    Heap entries are ``(due, seq, key)``; an entry whose ``seq`` is no longer the key's is
    stale (the timer was replaced or cancelled) and is skipped. ``version`` goes up with every
    change (the engine uses it to see whether a refused command changed anything).
    """

    __slots__ = ("_by_key", "_dirty", "_heap", "_seq", "version")

    def __init__(self) -> None:
        self._by_key: dict[str, Timer] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._dirty: dict[str, Timer | None] = {}  # key -> row to write, or None to delete
        self.version = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, key: str) -> Timer | None:
        return self._by_key.get(key)

    def all(self) -> list[Timer]:
        """Every pending timer, in firing order."""
        return sorted(self._by_key.values(), key=lambda t: (t.due, t.seq))

    # ---------------------------------------------------------------- changes

    def add(self, key: str, due: float, kind: str, payload: dict[str, Any]) -> None:
        """Schedule ``kind``'s handler at ``due``; replaces the timer with that ``key``."""
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValueError(f"timer key must be 1 to {MAX_KEY} characters, got {key!r}")
        if not isinstance(due, int | float) or not math.isfinite(due):
            raise ValueError(f"timer {key!r}: due must be a finite unix time, got {due!r}")
        if kind not in _HANDLERS:
            raise ValueError(f"timer {key!r}: no handler for kind {kind!r}")
        if not isinstance(payload, dict):
            raise ValueError(f"timer {key!r}: payload must be a dict")
        self._put(Timer(key, float(due), kind, payload, self._next_seq()))

    def cancel(self, key: str) -> bool:
        """Forget the timer ``key``; False when there was none."""
        if self._by_key.pop(key, None) is None:
            return False
        self._dirty[key] = None
        self.version += 1
        self._compact()
        return True

    def defer(self, key: str, due: float) -> None:
        """Move a pending timer to ``due`` (keeps kind and payload); no-op when absent."""
        t = self._by_key.get(key)
        if t is not None:
            self._put(Timer(key, float(due), t.kind, t.payload, self._next_seq()))

    def restore(self, timer: Timer, due: float) -> None:
        """Put a popped timer back, due at ``due`` (kind and payload unchanged)."""
        self._put(Timer(timer.key, float(due), timer.kind, timer.payload, self._next_seq()))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _put(self, t: Timer) -> None:
        self._by_key[t.key] = t
        heapq.heappush(self._heap, (t.due, t.seq, t.key))
        self._dirty[t.key] = t
        self.version += 1
        self._compact()

    def _compact(self) -> None:
        """Drop stale heap entries once they outnumber the live ones (bounded memory)."""
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._by_key):
            self._heap = [(t.due, t.seq, t.key) for t in self._by_key.values()]
            heapq.heapify(self._heap)

    # ---------------------------------------------------------------- due timers

    def next_due(self) -> float | None:
        """When the next timer is due (None: no timer)."""
        heap = self._heap
        while heap:
            due, seq, key = heap[0]
            t = self._by_key.get(key)
            if t is not None and t.seq == seq:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> Timer | None:
        """Remove and return the first timer due at ``now`` (``due <= now``), if any."""
        heap = self._heap
        while heap:
            due, seq, key = heap[0]
            t = self._by_key.get(key)
            if t is None or t.seq != seq:
                heapq.heappop(heap)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            del self._by_key[key]
            self._dirty[key] = None
            self.version += 1
            return t
        return None

    # ---------------------------------------------------------------- store

    def load(self, rows: Iterable[Row]) -> None:
        """Replace everything with stored rows (at start and after a thrown-away batch)."""
        self._by_key.clear()
        self._heap.clear()
        self._dirty.clear()
        for r in sorted(rows, key=lambda r: (r["due"], r["key"])):
            payload = dict(r["payload"] or {})
            t = Timer(r["key"], float(r["due"]), r["kind"], payload, self._next_seq())
            self._by_key[t.key] = t
            self._heap.append((t.due, t.seq, t.key))
        heapq.heapify(self._heap)

    def take(self) -> tuple[list[Row], list[str]]:
        """Rows to write (insert or replace) and keys to delete since the last call."""
        upserts = [t.row() for t in self._dirty.values() if t is not None]
        deletes = [k for k, t in self._dirty.items() if t is None]
        self._dirty.clear()
        return upserts, deletes


def fire_due(
    state: Any, limit: int = MAX_PER_BATCH, late: Callable[[str, float], None] | None = None
) -> int:
    """Run the handlers of the timers due at ``state.now``, in order; returns how many ran.
    ``late(kind, seconds)`` is told how late each one that ran fired (the metrics).

    Raises HandlerFailed when a handler raises (the caller throws the batch away).
    """
    timers: Timers = state.timers
    fired = 0
    while fired < limit:
        t = timers.pop_due(state.now)
        if t is None:
            break
        fn = _HANDLERS.get(t.kind)
        if fn is None:
            logger.error(
                "no handler for timer kind %r; retried in %g s",
                t.kind,
                RETRY_DELAY,
                extra={"action": "timers.no_handler", "key": t.key, "kind": t.kind},
            )
            timers.restore(t, state.now + RETRY_DELAY)
            continue
        try:
            fn(state, t)
        except Exception as exc:
            raise HandlerFailed(t, exc) from exc
        if late is not None:
            late(t.kind, state.now - t.due)
        fired += 1
    return fired
