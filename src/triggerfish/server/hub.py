"""Wakes long polls (worker pulls, event followers) when the engine commits something new."""

from __future__ import annotations

import asyncio

from triggerfish.engine.loop import Wakeup


class Hub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._hosts: dict[str, asyncio.Event] = {}
        self._events = asyncio.Event()
        self._job_events = asyncio.Event()
        self.event_seq = 0
        self.closing = False  # the server is stopping: long polls answer at once

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def host_event(self, name: str) -> asyncio.Event:
        found = self._hosts.get(name)
        if found is None:
            found = self._hosts[name] = asyncio.Event()
        return found

    def events_changed(self, *, jobs_only: bool = False) -> asyncio.Event:
        """Set at the next commit that writes events (of type ``job`` with ``jobs_only``)."""
        return self._job_events if jobs_only else self._events

    def close(self) -> None:
        """Answer every long poll now (the server is stopping); call on the event loop."""
        self.closing = True
        for ev in (*self._hosts.values(), self._events, self._job_events):
            ev.set()

    def on_commit(self, wake: Wakeup) -> None:
        """Called in the engine thread after each commit (``Engine.listen``)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake, wake)

    def wake(self, wake: Wakeup) -> None:
        """Called on the loop after each commit (``Engine.listen_on``)."""
        names = wake.hosts | wake.idle_hosts if wake.work_available else wake.hosts
        for name in names:
            host_ev = self._hosts.get(name)
            if host_ev is not None:
                host_ev.set()
        if wake.event_seq > self.event_seq:
            self.event_seq = wake.event_seq
            self._events.set()
            self._events = asyncio.Event()
            if wake.job_events:
                self._job_events.set()
                self._job_events = asyncio.Event()
