"""Wakes long polls (event followers) when the engine commits something new; answers every
long poll, workers' parked pulls included, when the server stops.

It also keeps the most recent committed events in memory (``RECENT_EVENTS``), so that a
follower near the head (``triggerfish events --follow``, ``Client.wait``, time triggers seen
over HTTP) is answered without a database read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from triggerfish.engine.loop import Wakeup

RECENT_EVENTS = 20_000


class Hub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        # the futures of workers' pulls parked in the engine, answered when the server stops
        self.parked: set[asyncio.Future[Any]] = set()
        self._events = asyncio.Event()
        self._job_events = asyncio.Event()
        self.event_seq = 0
        self.closing = False  # the server is stopping: long polls answer at once
        # committed events with seq > _recent_from, all of them, in order
        self._recent: list[dict[str, Any]] = []
        self._recent_from = 0

    def start_at(self, seq: int) -> None:
        """The head of the event log when the server starts (older events are in the store)."""
        self.event_seq = seq
        self._recent = []
        self._recent_from = seq

    def forget(self) -> None:
        """Drop the events kept in memory (retention deleted some from the store): earlier
        events are read from the store until memory fills again."""
        self._recent_from += len(self._recent)
        self._recent = []

    def recent(
        self, after: int, limit: int, job: int | None, types: Collection[str] | None
    ) -> list[dict[str, Any]] | None:
        """Events after ``after`` from memory, filtered; None when memory does not reach back
        that far (read the store then)."""
        if after < self._recent_from:
            return None
        out = []
        for e in self._recent[after - self._recent_from :]:
            if (job is None or e["job"] == job) and (types is None or e["type"] in types):
                out.append(e)
                if len(out) >= limit:
                    break
        return out

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def events_changed(self, *, jobs_only: bool = False) -> asyncio.Event:
        """Set at the next commit that writes events (of type ``job`` with ``jobs_only``)."""
        return self._job_events if jobs_only else self._events

    def close(self) -> None:
        """Answer every long poll now (the server is stopping); call on the event loop."""
        self.closing = True
        for fut in self.parked:
            fut.cancel()
        for ev in (self._events, self._job_events):
            ev.set()

    def on_commit(self, wake: Wakeup) -> None:
        """Called in the engine thread after each commit (``Engine.listen``)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake, wake)

    def wake(self, wake: Wakeup) -> None:
        """Called on the loop after each commit (``Engine.listen_on``)."""
        if wake.events:
            first = wake.events[0]["seq"]
            if first == self._recent_from + len(self._recent) + 1:
                self._recent.extend(wake.events)
                if len(self._recent) > 2 * RECENT_EVENTS:
                    drop = len(self._recent) - RECENT_EVENTS
                    del self._recent[:drop]
                    self._recent_from += drop
            else:  # a gap (should not happen): start again from here
                self._recent = list(wake.events)
                self._recent_from = first - 1
        if wake.event_seq > self.event_seq:
            self.event_seq = wake.event_seq
            self._events.set()
            self._events = asyncio.Event()
            if wake.job_events:
                self._job_events.set()
                self._job_events = asyncio.Event()
