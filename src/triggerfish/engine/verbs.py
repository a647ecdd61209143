"""Dispatch verbs: suspend, resume, interrupt, migrate, complete, retire, shove.

The control verbs of Qube that act on running work rather than on a job's hold (those are in
:mod:`triggerfish.engine.control`). Every target is checked before any is changed: a request
with one target in a state the verb forbids changes nothing and answers 409.

- ``suspend``: running items (instances) become ``suspended``; their attempts and slots are
  kept, their timeout timers stop (and start again, for the whole limit, at ``resume``), and
  the worker is told to SIGSTOP their process groups. ``resume`` sends SIGCONT and sets them
  ``running`` again.
- ``interrupt``: running (or suspended) items go back to ``pending`` without a failed attempt
  counted. ``migrate`` does the same and the job avoids the host they ran on until each of
  them has started again elsewhere.
- ``complete J:N`` (``qb.completework``): items that are not running become ``complete``
  without running (a running one is stopped first), with the usual events.
- ``retire J`` (``qb.retire`` / ``qb.complete``): the job's work not started yet becomes
  ``complete``; what runs finishes; the job then ends ``complete``.
- ``shove J``: the job goes first in the next dispatch pass, ahead of priority.
"""

from __future__ import annotations

from triggerfish.api import schemas as s
from triggerfish.engine import preempt, timeouts
from triggerfish.engine.control import Target, resolve
from triggerfish.engine.objects import JobRT, SubRT, WorkRT
from triggerfish.engine.state import State
from triggerfish.engine.workers import drop
from triggerfish.errors import Conflict
from triggerfish.model import lifecycle
from triggerfish.model.status import TERMINAL, Status

ACTIONS = frozenset({"suspend", "resume", "interrupt", "migrate", "complete", "retire", "shove"})
LIVE = lifecycle.LIVE  # statuses of work that holds an attempt on a host
NOT_STARTED = lifecycle.NOT_STARTED
_REASON = {"interrupt": "interrupted", "migrate": "migrated"}


# ---------------------------------------------------------------- worker signals


def _signal(state: State, token: str | None, stop: bool) -> None:
    """Tell the worker that runs ``token`` to SIGSTOP (``stop``) or SIGCONT its group."""
    a = state.attempts.get(token) if token else None
    host = state.hosts.get(a.host) if a is not None else None
    if a is None or host is None or token is None:
        return
    host.signals[token] = stop
    state.wake_hosts.add(host.name)


# ---------------------------------------------------------------- checks


def _units(t: Target) -> list[WorkRT | SubRT]:
    """The items (or, for a job without agenda, the instances) a target names."""
    if t.work is not None:
        return [t.work]
    if t.sub is not None:
        if t.job.work:
            return [w for w in t.job.work.values() if w.subid == t.sub.subid and w.status in LIVE]
        return [t.sub]
    return list(t.job.work.values()) if t.job.work else list(t.job.subs.values())


def _check(action: str, t: Target) -> str | None:
    """Why ``action`` makes no sense for ``t`` now, or None when it does (the rules:
    ``model.lifecycle.dispatch_refusal``)."""
    kind: lifecycle.Kind = "work" if t.work else "instance" if t.sub else "job"
    st = (t.work or t.sub or t.job).status
    statuses = {u.status for u in _units(t)}
    return lifecycle.dispatch_refusal(action, kind, st, statuses, t.job.status)


# ---------------------------------------------------------------- one unit


def _free_sub(state: State, job: JobRT, w: WorkRT) -> None:
    """The instance that ran ``w`` goes back to pending (its next item is dispatched anew)."""
    sub = job.subs.get(w.subid) if w.subid is not None else None
    if sub is not None and sub.work == w.name:
        sub.work = None
        sub.token = None
        state.set_sub(job, sub, Status.PENDING, quiet=True)


def _suspend(state: State, job: JobRT, u: WorkRT | SubRT, stop: bool) -> None:
    old, new = (Status.RUNNING, Status.SUSPENDED) if stop else (Status.SUSPENDED, Status.RUNNING)
    if u.status != old:
        return
    _signal(state, u.token, stop)
    data = {"reason": "suspended" if stop else "resumed"}
    sub = job.subs.get(u.subid) if isinstance(u, WorkRT) and u.subid is not None else None
    if sub is not None and isinstance(u, WorkRT) and sub.work == u.name:
        _pause_timeout(state, job, sub, stop)
        state.set_sub(job, sub, new, quiet=True)
        _resume_timeout(state, job, sub, stop)
    _pause_timeout(state, job, u, stop)
    if isinstance(u, WorkRT):
        state.set_work(job, u, new, data=data)
    else:
        state.set_sub(job, u, new, data=data)
    _resume_timeout(state, job, u, stop)
    kind = "work" if isinstance(u, WorkRT) else "subjob"
    name = u.name if isinstance(u, WorkRT) else None
    state.emit("suspend" if stop else "resume", kind, job=job.id, subid=u.subid, work=name,
               host=u.host)  # fmt: skip


def _pause_timeout(state: State, job: JobRT, u: WorkRT | SubRT, stop: bool) -> None:
    """At suspend: remember what is left of ``u``'s timeout (its timer stops with it)."""
    if stop:
        u.left = timeouts.left(state, job, u)


def _resume_timeout(state: State, job: JobRT, u: WorkRT | SubRT, stop: bool) -> None:
    """At resume: the timer (started anew with the status) gets what was left of it."""
    if not stop and u.left is not None:
        timeouts.shorten(state, job, u, u.left)
        u.left = None


def _interrupt(state: State, job: JobRT, u: WorkRT | SubRT, event: str) -> None:
    """A live unit back to pending, no failed attempt counted; ``migrate`` avoids its host."""
    if u.status not in LIVE:
        return
    a = state.attempts.get(u.token) if u.token else None
    if a is not None:
        drop(state, a)
    kind = "work" if isinstance(u, WorkRT) else "subjob"
    name = u.name if isinstance(u, WorkRT) else None
    state.emit(event, kind, job=job.id, subid=u.subid, work=name, host=u.host)
    if event == "migrate" and u.host:
        u.avoid = u.host
        job.avoid.add(u.host)
        state.refile(job)
    u.token = None
    if isinstance(u, WorkRT):
        _free_sub(state, job, u)
        state.set_work(job, u, Status.PENDING, data={"reason": _REASON[event]})
    else:
        u.work = None
        state.set_sub(job, u, Status.PENDING, data={"reason": _REASON[event]})


def _complete(state: State, job: JobRT, u: WorkRT | SubRT) -> None:
    """Mark ``u`` complete without running it; a live one is stopped first."""
    if u.status == Status.COMPLETE:
        return
    if u.status in LIVE:
        a = state.attempts.get(u.token) if u.token else None
        if a is not None:
            drop(state, a)
        u.token = None
        if isinstance(u, WorkRT):
            _free_sub(state, job, u)
    data = {"reason": "completed by a user"}
    if isinstance(u, WorkRT):
        state.set_work(job, u, Status.COMPLETE, data=data)
    else:
        state.set_sub(job, u, Status.COMPLETE, data=data)


# ---------------------------------------------------------------- verbs


def _job_status(state: State, job: JobRT, status: str) -> None:
    """Set the job's own status (``suspended``), or let it follow its work again."""
    if status == Status.SUSPENDED:
        state.set_job(job, Status.SUSPENDED)
        return
    if job.status == Status.SUSPENDED:
        job.status = Status.RUNNING if job.tally[Status.RUNNING] else Status.PENDING
        state.touch_job(job)
        state.emit(job.status, "job", job=job.id)
    state.derive(job)


def _apply(state: State, action: str, t: Target) -> str:
    job = t.job
    units = _units(t)
    if action in ("suspend", "resume"):
        for u in units:
            _suspend(state, job, u, action == "suspend")
        if t.work is None and t.sub is None:
            _job_status(state, job, Status.SUSPENDED if action == "suspend" else Status.PENDING)
        else:
            state.derive(job)
    elif action in ("interrupt", "migrate"):
        for u in units:
            _interrupt(state, job, u, action)
        if job.status == Status.SUSPENDED and t.work is None and t.sub is None:
            _job_status(state, job, Status.PENDING)
        state.derive(job)
    elif action in ("complete", "retire") and t.work is not None:
        _complete(state, job, t.work)  # (the job is settled once all targets are done)
    elif action in ("complete", "retire"):
        _retire(state, job, units)
    elif action == "shove":
        state.shoved.add(job.id)
        state.work_available = True
        state.wake_hosts.update(state.parked)
        state.emit("shove", "job", job=job.id)
    return (t.work or t.sub or job).status


def _settle(state: State, job: JobRT) -> None:
    """A job held (blocked, suspended) whose work has all ended ends too, as it would have."""
    units: list[WorkRT | SubRT] = list(job.work.values()) if job.work else list(job.subs.values())
    if job.status in (Status.BLOCKED, Status.SUSPENDED, Status.WAITING, Status.KILLED) and all(
        u.status in TERMINAL for u in units
    ):
        job.status = Status.PENDING
        state.touch_job(job)
    state.derive(job)


def _retire(state: State, job: JobRT, units: list[WorkRT | SubRT]) -> None:
    """What has not started becomes complete; running work finishes; suspended work goes on."""
    state.emit("retire", "job", job=job.id)
    for u in units:
        if u.status == Status.SUSPENDED:
            _suspend(state, job, u, False)
        elif u.status in NOT_STARTED:
            if isinstance(u, WorkRT):
                state.set_work(job, u, Status.COMPLETE, data={"reason": "retired"})
            else:
                state.set_sub(job, u, Status.COMPLETE, data={"reason": "retired"})
    if job.status in (Status.SUSPENDED, Status.BLOCKED, Status.WAITING):
        job.status = Status.RUNNING if job.tally[Status.RUNNING] else Status.PENDING
        state.touch_job(job)
    state.derive(job)


def callback_action(state: State, job: JobRT, sub: SubRT | None, verb: str) -> str:
    """A qube callback's dispatch verb (``suspend-self``, ``migrate-subjob-self`` …) on its job
    or on instance ``sub``; the outcome as text. A state the verb does not apply to changes
    nothing: the text says ``skipped: …`` (no 409 here: the engine goes on)."""
    t = Target(str(job.id) if sub is None else f"{job.id}.{sub.subid}", job, sub=sub)
    if verb == "preempt":
        return _preempt_after_item(state, t)
    why = _check(verb, t)
    if why is not None:
        return f"skipped: {verb} {t.text}: {why}"
    return f"{verb} {t.text}: {_apply(state, verb, t)}"


def _preempt_after_item(state: State, t: Target) -> str:
    """Qube's preempt: running instances give their slots up after their current items."""
    subs = [t.sub] if t.sub is not None else list(t.job.subs.values())
    st = (t.sub or t.job).status
    if t.job.status in TERMINAL or not any(sub.status == Status.RUNNING for sub in subs):
        return f"skipped: preempt {t.text}: it is {st}; nothing of it is running"
    return f"preempt {t.text}: {preempt.after_item(state, t.job, subs)}"


def control(state: State, req: s.ControlRequest) -> s.ControlResponse:
    """Apply one of :data:`ACTIONS` to every target (all checked first)."""
    targets = [resolve(state, text) for text in req.targets]
    for t in targets:
        why = _check(req.action, t)
        if why is not None:
            raise Conflict(f"cannot {req.action} {t.text}: {why}", field="targets")
    results = [s.ControlResult(target=t.text, status=_apply(state, req.action, t)) for t in targets]
    if req.action == "complete":
        for job in {t.job.id: t.job for t in targets if t.work is not None}.values():
            _settle(state, job)
    return s.ControlResponse(results=results)
