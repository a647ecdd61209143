"""Following jobs to their end: statuses from the job endpoint, woken early by the event stream.

Every call rides through a supervisor restart (``client.reconnect``). A job the supervisor
says can no longer finish by itself (its ``stuck`` field) settles the wait as an ended one
does; ``stuck`` names those jobs and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from triggerfish.client.errors import ClientError
from triggerfish.client.reconnect import Reconnect
from triggerfish.model.status import TERMINAL

if TYPE_CHECKING:
    from triggerfish.client.client import Client

JSON = dict[str, Any]
T = TypeVar("T")
REMOVED = "removed"
END_EVENTS = frozenset({"complete", "failed", "killed", "done", "removed"})
# while a job may be stuck, the end of any job (its upstream) may make it so: it wakes the wait
UPSTREAM_EVENTS = END_EVENTS
STUCK_RECHECK = 3.0  # seconds between two looks at a job that may be stuck, without events
UPSTREAM_GAP = 0.5  # seconds at least between two looks woken by other jobs' ends
NO_EVENTS = frozenset({404, 405, 501})  # a supervisor without the events endpoint
BATCH = 4  # more unfinished jobs of one pgrp than this are read with one list request
LIST_LIMIT = 100_000


def frames(summary: JSON) -> tuple[int, int]:
    """``(ended, total)`` agenda items of a job summary; a job without agenda counts as one."""
    total = int(summary.get("todo") or 0)
    if total:
        tally = summary.get("todotally") or {}
        return sum(int(tally.get(k, 0)) for k in TERMINAL), total
    return (1 if summary.get("status") in TERMINAL | {REMOVED} else 0), 1


class JobWatcher:
    """The latest summaries of a set of jobs, refreshed when the event stream says so."""

    ENDED = TERMINAL | {REMOVED}

    def __init__(
        self,
        client: Client,
        ids: Iterable[int],
        *,
        poll: float = 0.5,
        longpoll: float = 10.0,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        """``notify`` is told when the supervisor becomes unreachable and when it is back
        (default: a warning of the ``triggerfish.client`` logger)."""
        self.client = client
        self.ids = list(dict.fromkeys(int(i) for i in ids))
        self._idset = set(self.ids)
        self.poll = poll
        self.longpoll = longpoll
        self.jobs: dict[int, JSON] = {}
        self.cursor = 0
        self.use_events = True
        self.reconnect = Reconnect(client.url, notify)
        self.deadline: float | None = None  # (time.monotonic) retries of an outage end here

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return self.reconnect.call(fn, *args, deadline=self.deadline)

    def start(self) -> None:
        """Take the position in the event stream; call before the first refresh."""
        try:
            self.cursor = self._call(self.client.event_head)
        except ClientError as exc:
            if exc.status not in NO_EVENTS:
                raise
            self.use_events = False

    def refresh(self) -> dict[int, JSON]:
        """Fetch the summary of every job not yet ended (many of one pgrp in one request)."""
        todo = [
            j for j in self.ids if j not in self.jobs or self.jobs[j]["status"] not in self.ENDED
        ]
        by_pgrp: dict[int, list[int]] = {}
        for jid in todo:
            if jid in self.jobs:
                by_pgrp.setdefault(int(self.jobs[jid]["pgrp"]), []).append(jid)
        for pgrp, members in by_pgrp.items():
            if len(members) > BATCH:
                answer = self._call(lambda p=pgrp: self.client.jobs(pgrp=p, limit=LIST_LIMIT))
                listed = {int(j["id"]): j for j in answer}
                hits = {jid: listed[jid] for jid in todo if jid in listed}
                self.jobs.update(hits)
                todo = [jid for jid in todo if jid not in hits]
        for jid in todo:
            self._fetch(jid)
        return self.jobs

    def _fetch(self, jid: int) -> None:
        known = self.jobs.get(jid)
        try:
            self.jobs[jid] = self._call(self.client.job, jid, False)
        except ClientError as exc:
            if exc.status != 404 or known is None:
                raise
            self.jobs[jid] = {**known, "status": REMOVED}

    @property
    def finished(self) -> bool:
        return all(j in self.jobs and self.jobs[j]["status"] in self.ENDED for j in self.ids)

    @property
    def stuck(self) -> dict[int, str]:
        """The jobs not ended that can no longer finish by themselves, and why."""
        out: dict[int, str] = {}
        for jid in self.ids:
            job = self.jobs.get(jid)
            if job is not None and job["status"] not in self.ENDED and job.get("stuck"):
                out[jid] = str(job["stuck"])
        return out

    @property
    def settled(self) -> bool:
        """True when nothing more happens by itself: every job ended or is stuck."""
        stuck = self.stuck
        return all(
            j in self.jobs and (self.jobs[j]["status"] in self.ENDED or j in stuck)
            for j in self.ids
        )

    @property
    def may_get_stuck(self) -> bool:
        """True when a job not ended is blocked or holds blocked work: whether it can finish
        depends on other jobs, and on time (``STUCK_RECHECK``)."""
        for job in self.jobs.values():
            if job["status"] in self.ENDED:
                continue
            if job["status"] == "blocked" or (job.get("todotally") or {}).get("blocked"):
                return True
        return False

    def statuses(self) -> dict[int, str]:
        return {j: str(self.jobs[j]["status"]) for j in self.ids if j in self.jobs}

    def _relevant(self, event: JSON, only_ends: bool, upstream: bool) -> bool:
        is_job = event.get("type") == "job"
        if upstream and is_job and event.get("name") in UPSTREAM_EVENTS:
            return True  # any job's end or restart may make a waiting job (un)stuck
        if event.get("job") not in self._idset:
            return False
        return not only_ends or (is_job and event.get("name") in END_EVENTS)

    def wait_for_change(self, timeout: float, *, only_ends: bool = False) -> list[JSON]:
        """Block until events about the jobs arrive (only their ends with ``only_ends``) or
        ``timeout`` passes; return those events."""
        upstream = self.may_get_stuck
        if upstream:
            timeout = min(timeout, STUCK_RECHECK)
        started = time.monotonic()
        deadline = started + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.use_events:
                time.sleep(min(remaining, self.poll))
                return []
            asked = time.monotonic()
            try:
                events = self._call(
                    lambda: self.client.events(
                        since=self.cursor,
                        wait=min(max(deadline - time.monotonic(), 0.01), self.longpoll),
                        job=self.ids[0] if len(self.ids) == 1 and not upstream else None,
                        type="job" if only_ends else None,  # ends are job events
                    )
                )
            except ClientError as exc:
                if exc.status not in NO_EVENTS:
                    raise
                self.use_events = False
                continue
            if events:
                self.cursor = max(self.cursor, int(events[-1]["seq"]))
            else:
                self.cursor = max(self.cursor, self.client.last_event_seq)
            mine = [e for e in events if self._relevant(e, only_ends, upstream)]
            if mine:
                if not any(e.get("job") in self._idset for e in mine):
                    # only other jobs' ends (a busy farm has many): at most a look per gap
                    time.sleep(max(0.0, UPSTREAM_GAP - (time.monotonic() - started)))
                return mine
            if not events and time.monotonic() - asked < 0.05:
                time.sleep(min(max(remaining, 0), self.poll))  # the server did not long-poll
        return []
