"""Preemption: priorities act at every frame boundary (docs/dispatch-priority.md).

*Passive* (always on): when an instance ends an item and a runnable job more urgent than its
own (lower priority number, then older id) could take that slot on that host, the instance
does not go on with its job: it goes back to ``pending`` (with a ``preempt`` event on it), what
lookahead held behind it is withdrawn, and the slot is dispatched again, to the more urgent
job. A job with ``preemption: none`` keeps its slots until its agenda is done.

*Aggressive* (``--preempt aggressive``) also takes running items of less urgent jobs back when
more urgent work has no free slot (:func:`aggressive`); ``preempt J`` does so for one job
(:func:`preempt_job`). An item taken back goes to ``pending`` with a ``preempt`` event: no
failed attempt is counted (its ``retry`` stays), its worker is told to stop it.

*Qube's preempt* (the ``preempt-self`` callback action, :func:`after_item`) lets the running
items finish: each instance that runs one gives its slot up at its next item boundary, as if a
more urgent job took it (``preempt`` event, ``data: {"mode": "callback"}``), and the job is
dispatched again by its priority. Which instances are to yield is held in memory only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from triggerfish.engine import ahead, reserve
from triggerfish.engine.objects import Attempt, HostRT, JobRT, SubRT
from triggerfish.engine.openjobs import Key

if TYPE_CHECKING:
    from triggerfish.engine.state import State

logger = logging.getLogger(__name__)

MODES = ("passive", "aggressive")
JOB_MODES = ("passive", "none")
AGGRESSIVE_SCAN = 64  # runnable jobs looked at per batch in aggressive mode
_LIVE = ("running", "suspended")  # work that holds an attempt on a host


def _urgency(job: JobRT) -> tuple[int, int]:
    return (job.priority, job.id)


def preemptible(job: JobRT) -> bool:
    """Whether ``job``'s running work may give its slots up (its ``preemption`` field)."""
    return bool(job.fields.get("preemption", "passive") != "none")


def rival(state: State, host: HostRT, job: JobRT) -> JobRT | None:
    """The most urgent runnable job, more urgent than ``job``, that could take a slot of
    ``host`` now (eligible there, an idle instance); None when there is none or ``job`` may not
    be preempted. Cheap: one look per dispatch class (engine.openjobs) that has a job more
    urgent than ``job``, job by job only within a class that could take the slot."""
    if state.yielding and _yields(state, host, job):
        return job  # (its own instance gives the slot up: Qube's preempt, :func:`after_item`)
    if not state.runnable or not preemptible(job):
        return None
    key = _urgency(job)
    best: JobRT | None = None
    open_jobs = state.open_jobs()
    for klass, jobs in open_jobs.classes.items():
        if not jobs or (jobs[0].priority, jobs[0].id) >= key or klass in open_jobs.short:
            continue  # (nothing of that class is more urgent, or it waits for a license)
        found = _first_to_take(state, host, jobs, klass, key)
        if found is not None and (best is None or _urgency(found) < _urgency(best)):
            best = found
            key = _urgency(found)
    return best


def _first_to_take(
    state: State, host: HostRT, jobs: list[JobRT], klass: Key, key: tuple[int, int]
) -> JobRT | None:
    """The first of ``jobs`` (open, of dispatch class ``klass``, most urgent first) more
    urgent than ``key`` that could take a slot of ``host``: the class is judged on its first
    job (all of it is alike there), the jobs of no class one by one."""
    for other in jobs:  # (nothing is marked during this walk)
        if (other.priority, other.id) >= key:  # (_urgency, inline: the walk is hot)
            return None
        if not other.eligible(host) or not reserve.could_fit(state, other, host):
            if klass is not None:
                return None
            continue
        if other.idle_sub() is not None:
            return other
    return None


def yielded(state: State, host: HostRT, job: JobRT, sub: SubRT, by: JobRT) -> None:
    """Instance ``sub`` of ``job`` ended an item on ``host`` and gives its slot to ``by``:
    what is held ahead behind it is withdrawn, a ``preempt`` event says so (the caller sets the
    instance ``pending``)."""
    ahead.drop_sub(state, job, sub)
    if by is job:  # it was asked to (after_item)
        _spent(state, job, sub.subid)
        state.emit("preempt", "subjob", job=job.id, subid=sub.subid, host=host.name,
                   data={"mode": "callback"})  # fmt: skip
        return
    state.emit(
        "preempt",
        "subjob",
        job=job.id,
        subid=sub.subid,
        host=host.name,
        data={"mode": "passive", "by": by.id},
    )
    logger.info(
        "slot preempted",
        extra={"action": "preempt.passive", "job": job.id, "instance": sub.subid,
               "host": host.name, "by": by.id},
    )  # fmt: skip


# ------------------------------------------------------------------ taking running work back


def take_back(state: State, a: Attempt, data: dict[str, Any]) -> bool:
    """Stop the running attempt ``a``: its item (or instance) goes back to ``pending`` with a
    ``preempt`` event, no attempt counted; its worker is told to stop it. False if ``a`` runs
    nothing of a job any more."""
    from triggerfish.engine.workers import drop  # (workers imports dispatch, which imports us)

    job = state.jobs.get(a.job_id)
    drop(state, a)  # its token goes stale: the worker's next pull cancels it
    if job is None:
        return False
    sub = job.subs.get(a.subid)
    if sub is not None and sub.ahead:
        ahead.drop_sub(state, job, sub)
    taken = False
    if a.work is not None:
        w = job.work.get(a.work)
        if w is not None and w.token == a.token and w.status == "running":
            state.emit("preempt", "work", job=job.id, subid=a.subid, work=w.name,
                       host=a.host, data=data)  # fmt: skip
            w.token = None
            state.set_work(job, w, "pending", data=data)
            taken = True
    elif sub is not None and sub.token == a.token and sub.status == "running":
        state.emit("preempt", "subjob", job=job.id, subid=a.subid, host=a.host, data=data)
        sub.token = None
        taken = True
    if sub is not None and sub.status == "running" and (a.work is None or sub.work == a.work):
        sub.work = None
        state.set_sub(job, sub, "pending", quiet=bool(job.work))
    state.derive(job)
    state.update_runnable(job)
    return taken


def preempt_job(state: State, job: JobRT) -> int:
    """``preempt J``: take every running item (instance) of ``job`` back now; how many."""
    n = 0
    for a in [a for a in state.attempts.values() if a.job_id == job.id]:
        n += take_back(state, a, {"mode": "verb"})
    return n


def aggressive(state: State) -> int:
    """Aggressive mode, before parked pulls are served: each runnable job (most urgent first,
    at most ``AGGRESSIVE_SCAN`` of them, only those more urgent than some running preemptible
    work) that has an idle instance and no free slot it may use takes back one running
    attempt of the least urgent preemptible job on a host it may use. How many were taken."""
    if not state.runnable or not state.attempts:
        return 0
    worst = max(
        (_urgency(j) for a in state.attempts.values()
         if (j := state.jobs.get(a.job_id)) is not None and preemptible(j)),
        default=None,
    )  # fmt: skip
    taken = 0
    for job in list(state.ordered_runnable())[:AGGRESSIVE_SCAN]:
        if worst is None or _urgency(job) >= worst:
            break
        if job.idle_sub() is None or _free_slot(state, job):
            continue
        victim = _victim(state, job)
        if victim is not None:
            take_back(state, victim, {"mode": "aggressive", "by": job.id})
            taken += 1
    return taken


def _free_slot(state: State, job: JobRT) -> bool:
    return any(
        h.state == "active" and job.eligible(h) and reserve.fits(state, job, h)
        for h in state.hosts.values()
    )


def _victim(state: State, job: JobRT) -> Attempt | None:
    """The running attempt of the least urgent preemptible job, less urgent than ``job``, on
    a host ``job`` may use (the newest of that job's, so the oldest work goes on)."""
    key = _urgency(job)
    best: tuple[tuple[int, int], float, Attempt] | None = None
    for host in state.hosts.values():
        if host.state != "active" or not job.eligible(host):
            continue
        for a in host.attempts.values():
            other = state.jobs.get(a.job_id)
            if other is None or not preemptible(other) or _urgency(other) <= key:
                continue
            rank = (_urgency(other), a.delivered or 0.0)
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], a)
    return best[2] if best is not None else None


# ------------------------------------------------------------------ Qube's preempt: after the item


def after_item(state: State, job: JobRT, subs: list[SubRT]) -> str:
    """Qube's preempt ("back to pending state after agenda item is completed") of the running
    instances ``subs`` of ``job``: each finishes the item it runs, then gives its slot up (what
    was held ahead for it is withdrawn now). An instance of a job without agenda has no item
    boundary: it is taken back at once, as Qube's passive policy does. What was done, as text."""
    running = [sub for sub in subs if sub.status == "running"]
    if not job.work:
        n = 0
        for sub in running:
            a = state.attempts.get(sub.token) if sub.token else None
            if a is not None:
                n += take_back(state, a, {"mode": "callback"})
        return f"{n} instance(s) back to pending"
    for other in [i for i in state.yielding if i not in state.jobs]:
        del state.yielding[other]  # (jobs removed since)
    flagged = state.yielding.setdefault(job.id, {})
    for sub in running:
        token = job.work[sub.work].token if sub.work in job.work else None
        if token is not None:
            flagged[sub.subid] = token
        if sub.ahead:
            ahead.drop_sub(state, job, sub)
    return f"{len(running)} instance(s) give their slots up after their current items"


def _yields(state: State, host: HostRT, job: JobRT) -> bool:
    """Whether the instance of ``job`` that has just ended an item on ``host`` (running, no
    item) is one asked to give its slot up after that item: the attempt it ran then has just
    been reported finished. Forgets the instances whose attempt ended otherwise (interrupted,
    lost: the item runs again from its start) or that no longer run."""
    flagged = state.yielding.get(job.id)
    if not flagged:
        return False
    for subid, token in list(flagged.items()):
        sub = job.subs.get(subid)
        if sub is None or sub.status not in _LIVE:
            del flagged[subid]
        elif token in state.attempts:
            continue  # it still runs (or is suspended in) that item
        elif sub.work is None and sub.host == host.name and token in host.finished:
            return True
        else:
            del flagged[subid]
    if not flagged:
        del state.yielding[job.id]
    return False


def _spent(state: State, job: JobRT, subid: int) -> None:
    flagged = state.yielding.get(job.id)
    if flagged is not None:
        flagged.pop(subid, None)
        if not flagged:
            del state.yielding[job.id]
