"""The engine's state: in-memory objects, dirty tracking, events, and status transitions.

Every transition goes through the setters here, which keep tallies right, mark rows dirty and
append the events of SPEC §2. ``take_changes`` turns what changed into one group commit.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from triggerfish.auth.jobtokens import JobKeys
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.callbacks.universal import read_qcb
from triggerfish.engine import ahead, nextjobs, reserve, timeouts
from triggerfish.engine.callbacks import CallbackRT, Registry, on_event, restore
from triggerfish.engine.jobids import JobIds
from triggerfish.engine.objects import Attempt, HostRT, JobRT, SubRT, WorkRT
from triggerfish.engine.openjobs import OpenJobs, urgency
from triggerfish.engine.schedrt import Schedules
from triggerfish.engine.timers import Timers
from triggerfish.errors import NotFound
from triggerfish.meters import Meters
from triggerfish.model import lifecycle
from triggerfish.model.lifecycle import STATUS_EVENT
from triggerfish.model.status import TERMINAL, Status
from triggerfish.store.changes import Changes, Row
from triggerfish.store.store import Store

if TYPE_CHECKING:
    from triggerfish.engine.parking import Answer, Parked

logger = logging.getLogger(__name__)

# (module names: ``Status.X`` is an enum lookup, five times the cost of comparing a string,
# and the setters run for every transition of every item)
_PENDING, _BLOCKED, _RUNNING = Status.PENDING, Status.BLOCKED, Status.RUNNING
_RETRYING = Status.RETRYING
_RUNNABLE = frozenset({_PENDING, _RUNNING})  # a job in one of these may be dispatched

RELEASE_ACTIONS = frozenset(
    {"unblock-self", "unblock-work-self", "unblock-subjob-self", "retry-self", "retry-work-self",
     "retry-subjob-self"}
)  # fmt: skip


def _may_release(cb: CallbackRT) -> bool:
    """Whether a job's callback may release its blocked work: a qube callback with an action
    that unblocks or retries, or code (python, perl, exec) that may call ``qb.unblockwork``;
    not mail, and not the site's universal callbacks."""
    if cb.latches.exhausted or cb.source == "universal":
        return False
    if cb.language == "qube":
        return any(a in RELEASE_ACTIONS for a in cb.actions)
    return cb.language != "mail"


class State:
    def __init__(
        self, store: Store, host_timeout: float = 30.0, meters: Meters | None = None
    ) -> None:
        self.store = store
        self.meters = meters if meters is not None else Meters()
        self.host_timeout = host_timeout
        self.preempt = "passive"  # or "aggressive" (engine.preempt; the supervisor sets it)
        self.jobs: dict[int, JobRT] = {}
        self.hosts: dict[str, HostRT] = {}
        self.attempts: dict[str, Attempt] = {}
        self.runnable: set[int] = set()
        # runnable jobs found with no idle instance (``JobRT.idle_sub`` None): dispatch skips
        # them without looking at them again until one of their instances goes back to
        # ``pending`` (``set_sub``) or their ``cpus`` change (``control``)
        self.busy: set[int] = set()
        # runnable jobs found waiting for a global resource (``reserve.short_of_globals``):
        # skipped by dispatch, whatever the host, until some global resource is given back or
        # a total changes (``reserve.give``, ``resources.set_total``) or the job is modified
        self.unlicensed: set[int] = set()
        self.held_jobs: dict[int, Attempt] = {}  # job id -> its hold behind another job (nextjobs)
        self._order: list[JobRT] | None = None
        # the runnable jobs in that order but those known busy or short of a license
        # (:meth:`open_runnable`), kept with it; None: made again from it when asked
        self._open: OpenJobs | None = None
        self.retry_heap: list[tuple[float, int, str | None, int | None]] = []
        self.ids = JobIds()
        self.event_seq = 0
        self._counters_stored: dict[str, int] = {}  # unknown until ``load``: all are written
        self.now = time.time()
        self.loaded_at = self.now
        self.labels_added: dict[int, set[str]] = {}
        self.cbs = Registry()
        # the actions of a universal .qcb file (the supervisor sets its cached lookup)
        self.qcb_actions: Callable[[str], list[str]] = read_qcb
        # the universal callbacks to attach to a job submitted now (the supervisor sets it)
        self.universal_specs: Callable[[], Sequence[CallbackSpec]] = tuple
        # makes the job tokens handed out with assignments (the supervisor sets it)
        self.job_keys: JobKeys | None = None
        self.timers = Timers()
        self.schedules = Schedules()
        # workers' pulls waiting for work, by host (engine.parking); kept across batches
        self.parked: dict[str, Parked] = {}
        # replies owed besides the batch's own commands (parked pulls served or let go),
        # (where to, value, error); handed out after the batch's commit
        self.answers: list[tuple[Answer, Any, BaseException | None]] = []
        # jobs shoved (engine.verbs): first in the next dispatch pass, ahead of priority
        self.shoved: set[int] = set()
        # global resources (licenses) by name, with what running instances use (engine.reserve)
        self.resources: dict[str, reserve.GlobalResource] = {}
        # instances to give their slots up after their current item (engine.preempt: Qube's
        # preempt, of the ``preempt-self`` callback action): job id -> {subid: the attempt
        # token of that item}
        self.yielding: dict[int, dict[int, str]] = {}
        self._reset_dirty()

    def _reset_dirty(self) -> None:
        self.ch = Changes()
        self.new_jobs: set[int] = set()
        self.dirty_jobs: set[int] = set()
        self.respec: set[int] = set()  # dirty jobs whose spec (label, name, fields…) changed
        self.new_subs: dict[tuple[int, int], SubRT] = {}
        self.dirty_subs: dict[tuple[int, int], SubRT] = {}
        self.new_work: list[WorkRT] = []
        self.dirty_work: dict[tuple[int, str], WorkRT] = {}
        self.new_hosts: set[str] = set()
        self.dirty_hosts: set[str] = set()
        self.wake_hosts: set[str] = set()
        self.work_available = False
        self.counters_dirty = False
        self.removed: list[int] = []
        self.finished: set[int] = set()
        # jobs whose running work was taken back (lost, blocked, requeued) since their last
        # derive: they go back to pending when nothing else of them runs
        self.taken_back: set[int] = set()

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        self.now = time.time()
        self.loaded_at = self.now  # a worker's word on its holds counts from here (ahead.hear)
        self.jobs.clear()
        self.hosts.clear()
        self.attempts.clear()
        self.runnable.clear()
        self.busy.clear()
        self.unlicensed.clear()
        self.held_jobs.clear()
        self._order = None
        self._open = None
        self.retry_heap.clear()
        self.labels_added.clear()
        self._reset_dirty()
        counters = self.store.counters()
        self._counters_stored = dict(counters)  # what the store holds (only changes are written)
        self.ids.rewind(counters["job_id"] + 1)
        self.event_seq = counters["event_seq"]
        self.cbs = Registry()
        self.cbs.next_id = counters.get("callback_id", 0) + 1
        self.cbs.next_run = counters.get("run_id", 0) + 1
        self.resources = {
            r["name"]: reserve.GlobalResource(r["name"], r["total"], 0, r["changed_by"],
                                              r["changed_at"])
            for r in self.store.load_resources()
        }  # fmt: skip
        now = time.time()
        for row in self.store.load_hosts():
            h = HostRT.from_row(row)
            h.last_seen = now  # every host gets a full timeout to check in after a restart
            self.hosts[h.name] = h
        for job_id in self.store.active_job_ids():
            self.load_job(job_id)
        self._load_callbacks()
        self.timers = Timers()
        self.timers.load(self.store.load_timers())
        self.schedules = Schedules()
        self.schedules.load(self.store.load_schedules(), counters.get("schedule_id", 0))

    def _load_callbacks(self) -> None:
        labels: dict[int, dict[str, int]] = {}
        for row in self.store.load_callbacks():
            pgrp = row["job_pgrp"]
            if pgrp is not None and pgrp not in labels:
                labels[pgrp] = self.store.pgrp_label_ids(pgrp)
            restore(self, row, pgrp, row["job_pid"], labels.get(pgrp, {}) if pgrp else {})

    def load_job(self, job_id: int) -> JobRT:
        loaded = self.store.load_job(job_id)
        if loaded is None:
            raise NotFound(f"job {job_id} does not exist", field="job")
        job = JobRT.from_rows(*loaded)
        self.jobs[job.id] = job
        for s in job.subs.values():
            if s.status in lifecycle.LIVE and s.token and s.host and s.work is None:
                self._restore_attempt(s.token, s.host, job.id, s.subid, None)
            if s.status == _RETRYING and s.retry_at is not None:
                heapq.heappush(self.retry_heap, (s.retry_at, job.id, None, s.subid))
        for w in job.work.values():
            if w.status in lifecycle.LIVE and w.token and w.host and w.subid is not None:
                self._restore_attempt(w.token, w.host, job.id, w.subid, w.name)
            elif w.status == _RETRYING and w.retry_at is not None:
                heapq.heappush(self.retry_heap, (w.retry_at, job.id, w.name, None))
            elif w.status == _PENDING and w.token and not ahead.restore(self, job, w):
                nextjobs.restore(self, job, w)  # (held for a host: lookahead, or a next job)
        self.update_runnable(job)
        return job

    def _restore_attempt(
        self, token: str, host: str, job_id: int, subid: int, work: str | None
    ) -> None:
        # not delivered as far as we know: the next pull that does not list it gets it again
        a = Attempt(token, host, job_id, subid, work)
        self.attempts[token] = a
        h = self.hosts.get(host)
        if h is not None:
            h.attempts[token] = a
        job = self.jobs.get(job_id)
        if job is not None:  # what it runs with is in use again (engine.reserve)
            reserve.take(self, job, h, a, loaded=True)

    def job(self, job_id: int) -> JobRT:
        """An active or finished job (finished ones are loaded from the store on demand)."""
        job = self.jobs.get(job_id)
        if job is None:
            job = self.load_job(job_id)
        return job

    def evict_finished(self, ids: set[int]) -> None:
        """Drop finished jobs from memory once their rows are written."""
        for job_id in ids:
            job = self.jobs.get(job_id)
            if job is not None and job.status in TERMINAL and not self._job_attempts(job):
                del self.jobs[job_id]
                if job_id in self.runnable:  # not so when it ended the usual way
                    self.runnable.discard(job_id)
                    self._order = None
                    self._open = None

    def _job_attempts(self, job: JobRT) -> list[Attempt]:
        out = []
        for s in job.subs.values():
            if s.token and s.token in self.attempts:
                out.append(self.attempts[s.token])
        for w in job.work.values():
            if w.status in lifecycle.LIVE and w.token and w.token in self.attempts:
                out.append(self.attempts[w.token])
        return out

    # ------------------------------------------------------------------ events

    def emit(
        self,
        name: str,
        type_: str,
        *,
        job: int | None = None,
        subid: int | None = None,
        work: str | None = None,
        host: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.event_seq += 1
        self.counters_dirty = True
        ev = {
            "seq": self.event_seq,
            "time": self.now,
            "name": name,
            "type": type_,
            "job": job,
            "subid": subid,
            "work": work,
            "host": host,
            "data": data,
        }
        self.ch.events.append(ev)
        if len(self.cbs.index):
            on_event(self, ev)

    def assigned(self, job: JobRT, sub: SubRT, item: WorkRT | None, host: str) -> None:
        """``item`` (or, with none, the instance ``sub``) is handed to ``host``: its
        ``assigned`` event, and the time it waited since it became runnable (since it, or its
        job, last became so: a blocked job's wait is not the queue's)."""
        self.emit("assigned", "host", job=job.id, subid=sub.subid,
                  work=item.name if item else None, host=host)  # fmt: skip
        ready = sub.ready if item is None else item.ready
        self.meters.assigned(self.now - max(ready, job.runnable_at))

    # ------------------------------------------------------------------ transitions

    def set_work(
        self,
        job: JobRT,
        w: WorkRT,
        status: str,
        *,
        quiet: bool = False,
        data: dict[str, Any] | None = None,
    ) -> None:
        old = w.status
        if old == status:
            return
        if w.reserved is not None:
            if job.id in self.held_jobs:
                nextjobs.drop_job(self, job, requeue=False)
            else:
                ahead.drop_item(self, job, w)
        w.status = status
        if job.work:
            job.tally[old] -= 1
            job.tally[status] = job.tally.get(status, 0) + 1
        if old == _RUNNING and status == _PENDING:
            self.taken_back.add(job.id)  # lost, blocked or requeued: not a retry nor a release
        if status == _PENDING:
            w.token = None  # (a hold's token is set on a pending item afterwards)
            w.ready = self.now
            job.push_pending(w)
            self.work_available = True
        if status in TERMINAL:
            w.timecomplete = self.now
        if status == _RUNNING or old == _RUNNING:
            timeouts.work_changed(self, job, w, old, status)
        self.touch_work(job, w)
        if not quiet:
            self.emit(
                STATUS_EVENT[status],
                "work",
                job=job.id,
                subid=w.subid,
                work=w.name,
                host=w.host,
                data=data,
            )
            if status in TERMINAL:
                self.emit(
                    "done",
                    "work",
                    job=job.id,
                    subid=w.subid,
                    work=w.name,
                    host=w.host,
                    data={"status": status},
                )

    def set_sub(
        self,
        job: JobRT,
        s: SubRT,
        status: str,
        *,
        quiet: bool = False,
        data: dict[str, Any] | None = None,
    ) -> None:
        old = s.status
        if old == status:
            return
        if old == _RUNNING and s.ahead:  # what was held behind its item goes back
            ahead.drop_sub(self, job, s)
        s.status = status
        if status == _PENDING:
            self.unbusy(job)  # (it has an idle instance now)
        if old == _RUNNING and status == _PENDING and not job.work:
            self.taken_back.add(job.id)
        if not job.work:
            job.tally[old] -= 1
            job.tally[status] = job.tally.get(status, 0) + 1
        if status == _PENDING:
            s.ready = self.now
            self.work_available = True
        if status in TERMINAL:
            s.timecomplete = self.now
        if status == _RUNNING or old == _RUNNING:
            timeouts.sub_changed(self, job, s, old, status)
        self.touch_sub(job, s)
        if not quiet:
            self.emit(
                STATUS_EVENT[status], "subjob", job=job.id, subid=s.subid, host=s.host, data=data
            )
            if status in TERMINAL:
                self.emit(
                    "done",
                    "subjob",
                    job=job.id,
                    subid=s.subid,
                    host=s.host,
                    data={"status": status},
                )

    def set_job(self, job: JobRT, status: str, *, data: dict[str, Any] | None = None) -> None:
        if job.status == status:
            return
        job.status = status
        if status not in _RUNNABLE:
            ahead.drop_job(self, job)
            nextjobs.drop_job(self, job)
        if status in TERMINAL:
            job.timecomplete = self.now
            self.finished.add(job.id)
            for s in job.subs.values():
                if s.status in (_PENDING, _BLOCKED, _RETRYING):
                    self.set_sub(job, s, status, quiet=bool(job.work))
        elif job.timecomplete is not None:
            job.timecomplete = None
        if status == _RUNNING and job.timestart is None:
            job.timestart = self.now
        if status == _BLOCKED:
            job.reason = "blocked"
        elif job.reason == "blocked":
            job.reason = ""
        self.touch_job(job)
        self.update_runnable(job)
        self.emit(STATUS_EVENT[status], "job", job=job.id, data=data)
        if status in TERMINAL:
            self.emit("done", "job", job=job.id, data={"status": status})

    def derive(self, job: JobRT) -> None:
        """Set the job's status from its work (or instances), unless it is held explicitly
        (the rules: ``model.lifecycle.derive``)."""
        if job.status in lifecycle.HELD_JOB:
            self.update_runnable(job)
            return
        taken_back = job.id in self.taken_back
        self.taken_back.discard(job.id)
        status = lifecycle.derive(
            job.tally, job.status, taken_back=taken_back, may_release=lambda: self._may_release(job)
        )
        if status in TERMINAL and job.work:
            for s in job.subs.values():
                if s.status == _PENDING:
                    self.set_sub(job, s, status, quiet=True)
        self.set_job(job, status)
        self.touch_job(job)
        self.update_runnable(job)

    def _may_release(self, job: JobRT) -> bool:
        """Whether a callback of ``job`` may release its blocked work (a qube action that
        unblocks or retries; code in another language)."""
        return any(_may_release(cb) for cb in self.cbs.of_job(job.id))

    # ------------------------------------------------------------------ runnable set

    def update_runnable(self, job: JobRT) -> None:
        ok = job.status in _RUNNABLE and job.id in self.jobs
        if ok:
            ok = (
                job.has_pending()
                if job.work
                else any(s.status == _PENDING for s in job.subs.values())
            )
        if ok and job.id not in self.runnable:
            self.runnable.add(job.id)
            job.runnable_at = self.now
            if self._order is not None:  # kept sorted: a queue of many tasks is not re-sorted
                bisect.insort(self._order, job, key=urgency)
                if job.id not in self.busy and job.id not in self.unlicensed:
                    self._open_add(job)
            self.work_available = True
        elif not ok and job.id in self.runnable:
            self.runnable.discard(job.id)
            self.busy.discard(job.id)
            self.unlicensed.discard(job.id)
            self._open_drop(job)
            if self._order is not None:
                i = bisect.bisect_left(self._order, urgency(job), key=urgency)
                if i < len(self._order) and self._order[i] is job:
                    del self._order[i]
                else:
                    self._order = None
                    self._open = None

    def open_runnable(self) -> list[JobRT]:
        """The runnable jobs, most urgent first, but those known to have no idle instance
        (``busy``) or to wait for a global resource (``unlicensed``): what dispatch walks. The
        list changes as jobs are marked: iterate a copy if the walk may mark or start any."""
        return self.open_jobs().all

    def open_jobs(self) -> OpenJobs:
        """:meth:`open_runnable`, and the same jobs by dispatch class (engine.openjobs)."""
        if self._open is None:
            busy, short = self.busy, self.unlicensed
            order = self.ordered_runnable()
            self._open = OpenJobs(j for j in order if j.id not in busy and j.id not in short)
        return self._open

    def _open_add(self, job: JobRT) -> None:
        if self._open is not None:
            self._open.add(job)

    def _open_drop(self, job: JobRT) -> None:
        if self._open is not None:
            self._open.drop(job)

    def refile(self, job: JobRT) -> None:
        """The hosts ``job`` avoids changed, and with them its dispatch class."""
        if self._open is not None and job.open_key != job.dispatch_class():
            self._open.drop(job)
            out = job.id in self.busy or job.id in self.unlicensed
            if job.id in self.runnable and not out:
                self._open.add(job)

    def mark_busy(self, job: JobRT) -> None:
        """``job`` (runnable) has no idle instance: dispatch skips it until :meth:`unbusy`."""
        self.busy.add(job.id)
        self._open_drop(job)

    def unbusy(self, job: JobRT) -> None:
        """``job`` may have an idle instance again (one went back to pending, its cpus
        changed)."""
        if job.id in self.busy:
            self.busy.discard(job.id)
            if job.id in self.runnable and job.id not in self.unlicensed:
                self._open_add(job)

    def mark_unlicensed(self, job: JobRT) -> None:
        """``job`` waits for a global resource: skipped until :meth:`licenses_freed`. So does
        its whole dispatch class, which asks for the same (engine.openjobs: ``short``)."""
        key = job.dispatch_class()
        if key is not None and self._open is not None and job.open_key == key:
            self._open.short.add(key)
            return
        self.unlicensed.add(job.id)
        self._open_drop(job)

    def licenses_freed(self) -> None:
        """A global resource was given back or its total changed: every job may fit again."""
        if self._open is not None:
            self._open.unshort()
        if not self.unlicensed:
            return
        back, self.unlicensed = self.unlicensed, set()
        if self._open is None:
            return
        for job_id in back:
            job = self.jobs.get(job_id)
            if job is not None and job_id in self.runnable and job_id not in self.busy:
                self._open.add(job)

    def reorder(self) -> None:
        self._order = None
        self._open = None

    def ordered_runnable(self) -> list[JobRT]:
        """Runnable jobs, most urgent first (priority, then id); a priority change must call
        :meth:`reorder`."""
        if self._order is None:
            self._order = sorted((self.jobs[j] for j in self.runnable), key=urgency)
        return self._order

    # ------------------------------------------------------------------ dirty marks

    def touch_job(self, job: JobRT) -> None:
        job.lastupdate = self.now
        if job.id not in self.new_jobs:
            self.dirty_jobs.add(job.id)

    def touch_work(self, job: JobRT, w: WorkRT) -> None:
        if job.id not in self.new_jobs:
            self.dirty_jobs.add(job.id)
            self.dirty_work[(job.id, w.name)] = w

    def touch_sub(self, job: JobRT, s: SubRT) -> None:
        key = (job.id, s.subid)
        if key not in self.new_subs:
            self.dirty_subs[key] = s
            if job.id not in self.new_jobs:
                self.dirty_jobs.add(job.id)

    def touch_host(self, h: HostRT) -> None:
        if h.name not in self.new_hosts:
            self.dirty_hosts.add(h.name)

    def take_changes(self) -> Changes:
        ch = self.ch
        removed = self.removed
        if self.counters_dirty:
            now = {
                "job_id": self.ids.next - 1,
                "event_seq": self.event_seq,
                "callback_id": self.cbs.next_id - 1,
                "run_id": self.cbs.next_run - 1,
                "schedule_id": self.schedules.next_id - 1,
            }
            stored = self._counters_stored
            ch.counters = {k: v for k, v in now.items() if stored.get(k) != v}
            # a commit that fails reloads the state, and this with it (``load``)
            stored.update(ch.counters)
        (
            ch.callback_inserts,
            ch.callback_updates,
            ch.callback_deletes,
            ch.run_inserts,
            ch.run_updates,
        ) = self.cbs.take()
        ch.timer_upserts, ch.timer_deletes = self.timers.take()
        ch.schedule_upserts, ch.schedule_deletes = self.schedules.take()
        gone = set(removed)
        for job_id in sorted(self.new_jobs - gone):
            job = self.jobs[job_id]
            ch.job_inserts.append(job.row())
            ch.sub_inserts.extend(s.row() for s in job.subs.values())
            ch.work_inserts.extend(_work_insert(w, job.packages) for w in job.work.values())
        for key, s in self.new_subs.items():
            if key[0] not in gone and key[0] not in self.new_jobs:
                ch.sub_inserts.append(s.row())
        respec = self.respec
        for job_id in self.dirty_jobs - self.new_jobs - gone:
            dirty = self.jobs.get(job_id)
            if dirty is None:
                continue
            if job_id in respec:
                ch.job_respecs.append(dirty.row())
            else:
                ch.job_updates.append(dirty.hot_row())
        ch.sub_updates = [s.row() for k, s in self.dirty_subs.items() if k[0] not in gone]
        ch.work_updates = [w.row() for k, w in self.dirty_work.items() if k[0] not in gone]
        ch.job_deletes = [j for j in removed if j not in self.new_jobs]
        ch.host_inserts = [self.hosts[n].row() for n in sorted(self.new_hosts)]
        ch.host_updates = [self.hosts[n].row() for n in sorted(self.dirty_hosts - self.new_hosts)]
        self._reset_dirty()
        return ch


def _work_insert(w: WorkRT, packages: dict[str, dict[str, Any]] | None) -> Row:
    """The row of a new agenda item, with its own package (None when it has none)."""
    r = w.row()
    r["package"] = packages.get(w.name) if packages else None
    return r
