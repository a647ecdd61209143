"""The one thread of an executor that follows its jobs and settles their futures.

It follows the event stream (a long poll, ``type=work,job``; only that job's events while one
job is pending: a ``map``) while futures are pending, and sleeps while none are. A work item's
``running`` event marks its future running; its ``done`` event has the item's result package
read (one page read per run of neighbouring items: the items are named by their index). A
job's end (killed with its items, removed) has every item still pending read. Events of a job
not yet added (its submission still on the way back) are kept a while and replayed when it
is; a job submitted while the stream was read for another job only has its items read once
("catch-up"), then follows the stream. A supervisor that goes away is waited for
(``client.reconnect``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from triggerfish.client import Client, ClientError
from triggerfish.client.reconnect import Reconnect
from triggerfish.client.watch import END_EVENTS
from triggerfish.futures.errors import RemoteError

if TYPE_CHECKING:
    from triggerfish.futures.future import FarmFuture

logger = logging.getLogger(__name__)
JSON = dict[str, Any]
LONGPOLL = 10.0  # seconds of one events request
EVENTS = 10_000  # events per request (the supervisor's most)
GAP = 256  # ended items closer than this are read in one page with those between
PAGE = 10_000  # items of one page read (the supervisor's most)
KEPT = 50_000  # events of jobs not (yet) ours kept for a job whose submission is on its way


class Reader:
    """Futures by job and item name; a thread settles them from the event stream."""

    def __init__(self, url: str, token: str | None) -> None:
        self._client = Client(url, token=token, timeout=LONGPOLL + 30.0)
        self._reconnect = Reconnect(url)
        self._cond = threading.Condition()
        self._jobs: dict[int, dict[str, FarmFuture]] = {}
        self._others: OrderedDict[int, list[JSON]] = OrderedDict()  # job -> its events
        self._kept = 0
        self._cursor = 0
        # when the last events request that read one job's only returned (inf: in flight):
        # a job submitted before then may have had events go by unread
        self._narrow_until = -math.inf
        self._catchup: set[int] = set()  # jobs added meanwhile: their items to read once
        self._closing = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ the executor's side

    def start(self) -> None:
        """Take the position in the event stream (before the first job is submitted)."""
        with self._cond:
            if self._thread is not None:
                return
            self._cursor = self._call(self._client.event_head)
            self._thread = threading.Thread(target=self._run, name="triggerfish-futures",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def add(self, job: int, futures: dict[str, FarmFuture], submitted: float) -> None:
        """Settle ``futures`` (by item name) of ``job``, whose submission began at
        ``submitted`` (``time.monotonic()``)."""
        with self._cond:
            if self._error is not None:
                _fail(futures.values(), self._error)
                return
            self._jobs[job] = dict(futures)
            if self._narrow_until >= submitted:  # its first events may have gone by unread
                self._catchup.add(job)
            early = self._others.pop(job, [])
            self._kept -= len(early)
            self._cond.notify_all()
        if early:
            self._handle(early)

    def close(self) -> None:
        """Stop once no future is pending (now, if none is)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._reconnect.call(fn, *args)

    def _run(self) -> None:
        try:
            while (only := self._wait_for_jobs()) is not False:
                for job in self._take_catchup():
                    self._read(job, None, final=False)
                events = self._call(lambda: self._client.events(
                    since=self._cursor, limit=EVENTS, wait=LONGPOLL, type="work,job",
                    job=only))  # fmt: skip
                with self._cond:
                    self._cursor = max(self._cursor, self._client.last_event_seq)
                    if only is not None:
                        self._narrow_until = time.monotonic()
                self._handle(events)
        except BaseException as exc:  # (nothing else would settle the futures)
            logger.exception("triggerfish.futures: the result reader stopped",
                             extra={"action": "futures.reader"})  # fmt: skip
            with self._cond:
                self._error = exc
                pending = [f for fs in self._jobs.values() for f in fs.values()]
                self._jobs.clear()
            _fail(pending, exc)
        finally:
            self._client.close()

    def _wait_for_jobs(self) -> int | bool | None:
        """Once futures are pending: the job to read the events of (None: every job's);
        False when closing with none pending."""
        with self._cond:
            while not self._jobs:
                if self._closing:
                    return False
                self._cond.wait()
            only = next(iter(self._jobs)) if len(self._jobs) == 1 else None
            if only is not None:
                self._narrow_until = math.inf
            return only

    def _take_catchup(self) -> list[int]:
        with self._cond:
            jobs, self._catchup = sorted(self._catchup), set()
            return jobs

    def _handle(self, events: list[JSON]) -> None:
        ended: dict[int, set[str]] = {}
        jobs_ended: set[int] = set()
        with self._cond:
            for ev in events:
                job = ev.get("job")
                if not isinstance(job, int):
                    continue
                mine = self._jobs.get(job)
                if mine is None:
                    self._keep(job, ev)
                    continue
                name = ev.get("name")
                if ev.get("type") == "job":
                    if name in END_EVENTS:
                        jobs_ended.add(job)
                    continue
                fut = mine.get(str(ev.get("work")))
                if fut is None:
                    continue
                if name == "running":
                    fut.mark_running()
                elif name == "done":
                    ended.setdefault(job, set()).add(str(ev.get("work")))
        for job, names in ended.items():
            if job not in jobs_ended:
                self._read(job, names)
        for job in jobs_ended:
            self._read(job, None)

    def _keep(self, job: int, ev: JSON) -> None:
        """An event of a job that may be one of ours whose submission is on its way back."""
        self._others.setdefault(job, []).append(ev)
        self._kept += 1
        while self._kept > KEPT and self._others:
            _, dropped = self._others.popitem(last=False)
            self._kept -= len(dropped)

    # ------------------------------------------------------------------ results

    def _read(self, job: int, names: set[str] | None, *, final: bool = True) -> None:
        """Read the items ``names`` of ``job`` (None: all still pending) and settle those that
        ended; with ``final`` (the job ended) fail the others: they never will."""
        with self._cond:
            mine = self._jobs.get(job, {})
            wanted = sorted(n for n in (mine if names is None else names) if n in mine)
        if not wanted:
            return
        try:
            items = self._items(job, wanted)
        except ClientError as exc:
            if exc.status != 404:
                raise
            self._settle_gone(job, f"job {job} was removed before its result was read")
            return
        for item in items:
            self._settle(job, item)
        if names is None and final:  # the job ended: what is still pending never will run
            self._settle_gone(job, f"job {job} ended without running this call")

    def _items(self, job: int, names: list[str]) -> list[JSON]:
        if not all(n.isdigit() for n in names):
            return [self._call(self._client.work, job, n) for n in names]
        out: list[JSON] = []
        for start, stop in _runs(sorted(int(n) for n in names)):
            while start < stop:
                page = self._call(self._client.work_page, job, start, min(PAGE, stop - start))
                out += page["work"]
                if len(page["work"]) < min(PAGE, stop - start):
                    break
                start += PAGE
        return out

    def _settle(self, job: int, item: JSON) -> None:
        status = item.get("status")
        if status not in ("complete", "failed", "killed"):
            if status == "running":
                with self._cond:
                    fut = self._jobs.get(job, {}).get(str(item.get("name")))
                if fut is not None:
                    fut.mark_running()
            return
        with self._cond:
            fut = self._jobs.get(job, {}).pop(str(item.get("name")), None)
            self._forget(job)
        if fut is not None:
            fut.settle(status, item)

    def _settle_gone(self, job: int, why: str) -> None:
        with self._cond:
            left = self._jobs.pop(job, {})
        _fail(left.values(), RemoteError(why, job=job))

    def _forget(self, job: int) -> None:
        if job in self._jobs and not self._jobs[job]:
            del self._jobs[job]


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted item indexes as ``[start, stop)`` runs, neighbours closer than GAP joined."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and i - runs[-1][1] < GAP:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _fail(futures: Iterable[FarmFuture], exc: BaseException) -> None:
    for fut in futures:
        fut.fail(exc)
