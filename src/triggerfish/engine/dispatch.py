"""Dispatch: which work a host gets. Priority then id; placement; instances run items in order."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from triggerfish.engine import ahead, placement, preempt, reserve
from triggerfish.engine import verbhooks as verbs
from triggerfish.engine.objects import Attempt, DispatchClass, HostRT, JobRT, SubRT, WorkRT
from triggerfish.engine.openjobs import Walk
from triggerfish.engine.state import State


def start(
    state: State,
    host: HostRT,
    job: JobRT,
    sub: SubRT,
    item: WorkRT | None,
    held: Attempt | None = None,
) -> Attempt:
    """Start ``item`` (or the instance) on ``host``: a new attempt, or the lookahead attempt
    ``held`` that the worker already has (and runs as soon as the item before it ended)."""
    token = held.token if held is not None else secrets.token_hex(8)
    a = Attempt(token, host.name, job.id, sub.subid, item.name if item else None)
    if held is not None:
        a.delivered = held.delivered
    state.attempts[token] = a
    host.attempts[token] = a
    reserve.take(state, job, host, a)
    now = state.now
    if held is None:  # a held item was assigned when it was handed out ahead (ahead.top_up)
        state.assigned(job, sub, item, host.name)
    if job.avoid:  # (migrated work started elsewhere)
        verbs.started(state, job, item if item is not None else sub)
    if sub.status != "running":
        sub.host = host.name
        if sub.timestart is None:
            sub.timestart = now
        sub.timecomplete = None
        state.set_sub(job, sub, "running")
    sub.host = host.name
    sub.token = token if item is None else None
    sub.work = item.name if item else None
    state.touch_sub(job, sub)
    if item is not None:
        item.subid = sub.subid
        item.host = host.name
        item.token = token
        item.timestart = now
        item.timecomplete = None
        item.exit_code = None
        state.set_work(job, item, "running")
    if job.timestart is None:
        job.timestart = now
    state.derive(job)
    return a


def start_next(state: State, host: HostRT, job: JobRT, sub: SubRT) -> Attempt | None:
    """The next item of ``job`` for instance ``sub`` on ``host``, if there is one: the first
    item held for it (lookahead), or else the first pending one."""
    if job.status not in ("pending", "running") or sub.subid >= job.cpus:
        ahead.drop_sub(state, job, sub)
        return None
    if not host.takes_work or not job.eligible(host) or not reserve.fits(state, job, host):
        ahead.drop_sub(state, job, sub)
        return None
    better = preempt.rival(state, host, job)  # a more urgent job takes the slot (passive)
    held = ahead.claim(state, host, job, sub)
    if held is not None:  # the worker runs it already: it goes on, nothing more behind it
        if better is not None:
            ahead.drop_sub(state, job, sub)
        return start(state, host, job, sub, held[1], held[0])
    if better is not None:
        preempt.yielded(state, host, job, sub, better)
        return None
    item = job.pop_pending()
    if item is None:
        return None
    return start(state, host, job, sub, item)


def dispatch(state: State, host: HostRT) -> list[Attempt]:
    """Fill the host's free slots with the most urgent eligible work."""
    out: list[Attempt] = []
    if not host.takes_work or host.adopt:  # (adopt: it may run jobs held before a restart)
        return out
    if host.free <= 0 or not state.runnable:
        return out
    # dispatch classes (JobRT.dispatch_class) that cannot start here as the host and the
    # global resources are now: the jobs of a class are alike there (forgotten at each start);
    # jobs with no idle instance or waiting for a global resource are not open: not walked
    no: set[DispatchClass] = set()
    walk = Walk(state.open_jobs(), no, host)
    free = host.free  # (only what starts here changes it)
    for job in _shoved_first(state, walk):
        if free <= 0:
            break
        key = job.dispatch_class()
        if key is not None and key in no:
            continue
        if not job.eligible(host) or placement.better_elsewhere(state, job, host):
            if key is not None:
                no.add(key)
            continue
        n = len(out)
        full = _fill(state, host, job, out)
        if len(out) > n:
            no.clear()
            walk.reopen()
            free = host.free
        if full:
            _cannot_fit(state, job, key, no)
        state.update_runnable(job)
        if job.id in state.runnable and job.idle_sub() is None:
            state.mark_busy(job)
    if not out:
        host.idle = walk.jobs.idle_mark(host)
    return out


def _shoved_first(state: State, walk: Walk) -> Iterator[JobRT]:
    """The open jobs shoved (``shove J``), then the others in dispatch order."""
    shoved = verbs.take_shoved(state)
    yield from shoved
    ids = {j.id for j in shoved}
    for job in walk:
        if job.id not in ids:
            yield job


def _cannot_fit(
    state: State, job: JobRT, key: DispatchClass | None, no: set[DispatchClass]
) -> None:
    """Remember that no more of ``job`` fits on the host of this dispatch call: its class
    there, and the job everywhere when it waits for a global resource."""
    if key is not None:
        no.add(key)
    if reserve.short_of_globals(state, job):
        state.mark_unlicensed(job)


def _fill(state: State, host: HostRT, job: JobRT, out: list[Attempt]) -> bool:
    """Start on ``host`` what fits of ``job`` (added to ``out``); True when it stopped because
    no more of it fits there (slots, memory, licenses: engine.reserve), not for want of an
    idle instance or of a pending item."""
    while reserve.fits(state, job, host):
        sub = job.idle_sub()
        if sub is None:
            return False
        if job.work:
            item = job.pop_pending()
            if item is None:
                return False
            out.append(start(state, host, job, sub, item))
        else:
            out.append(start(state, host, job, sub, None))
    return True
