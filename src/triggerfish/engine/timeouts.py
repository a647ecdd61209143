"""``timeout`` and ``agenda_timeout`` (Qube's job fields): a ``timeout`` event when an instance
or a work item has run that many seconds.

As in Qube, the event is all the fields do by themselves: callbacks decide what happens
(``timeout-work-self-*`` → ``fail-work-self``); Qube's ``timelimit`` / ``agenda_timelimit``
shorthands add exactly those callbacks (see ``model.jobspec``). Each running attempt gets a
durable timer when it starts running, cancelled when it stops; the timer fires once per
attempt, to the millisecond (Qube's resolution is about 15 s).
"""

from __future__ import annotations

from typing import Any

from triggerfish.engine import timers
from triggerfish.engine.objects import JobRT, SubRT, WorkRT

KIND = "timeout"


def _work_key(job_id: int, name: str) -> str:
    return f"timeout:work:{job_id}:{name}"


def _sub_key(job_id: int, subid: int) -> str:
    return f"timeout:subjob:{job_id}.{subid}"


def work_changed(state: Any, job: JobRT, w: WorkRT, old: str, new: str) -> None:
    """An item went into or out of ``running``: start or cancel its timer."""
    limit = job.fields.get("agenda_timeout")
    if not limit:
        return
    key = _work_key(job.id, w.name)
    if new == "running":
        payload = {"job": job.id, "work": w.name, "token": w.token, "limit": limit}
        state.timers.add(key, state.now + float(limit), KIND, payload)
    elif old == "running":
        state.timers.cancel(key)


def sub_changed(state: Any, job: JobRT, s: SubRT, old: str, new: str) -> None:
    """An instance went into or out of ``running``: start or cancel its timer."""
    limit = job.fields.get("timeout")
    if not limit:
        return
    key = _sub_key(job.id, s.subid)
    if new == "running":
        payload = {"job": job.id, "subid": s.subid, "since": state.now, "limit": limit}
        state.timers.add(key, state.now + float(limit), KIND, payload)
    elif old == "running":
        state.timers.cancel(key)


def _key(job: JobRT, u: WorkRT | SubRT) -> str:
    return _work_key(job.id, u.name) if isinstance(u, WorkRT) else _sub_key(job.id, u.subid)


def left(state: Any, job: JobRT, u: WorkRT | SubRT) -> float | None:
    """Seconds left before the running ``u`` times out (None: no timer), read at suspend."""
    timer = state.timers.get(_key(job, u))
    return None if timer is None else max(0.0, timer.due - state.now)


def shorten(state: Any, job: JobRT, u: WorkRT | SubRT, seconds: float) -> None:
    """``u`` runs again after a suspension: its timer is due in the ``seconds`` it had left."""
    timer = state.timers.get(_key(job, u))
    if timer is not None:
        state.timers.add(timer.key, state.now + seconds, timer.kind, timer.payload)


@timers.handler(KIND)
def _fire(state: Any, timer: timers.Timer) -> None:
    """Emit ``timeout`` for the attempt, if it is still the one running."""
    p = timer.payload
    job = state.jobs.get(p["job"])
    if job is None:
        return
    data = {"timeout": p["limit"]}
    if "work" in p:
        w = job.work.get(p["work"])
        if w is None or w.status != "running" or w.token != p["token"]:
            return
        state.emit("timeout", "work", job=job.id, subid=w.subid, work=w.name, host=w.host,
                   data=data)  # fmt: skip
        return
    s = job.subs.get(p["subid"])
    if s is None or s.status != "running":
        return
    state.emit("timeout", "subjob", job=job.id, subid=s.subid, host=s.host, data=data)
