"""Recurring tasks, on the engine's durable timers.

A recurring task is a schedule (one row of ``schedules``, unique by target and key) and one
timer ``schedule:<id>``. When the timer fires, in the engine batch, the schedule creates a task
job (or skips the period, see ``policy``) and puts its timer on the next point of its fixed
grid ``start + k * every`` — so runs never drift, and after downtime the schedule runs once,
not once per missed period. Adding a schedule again with the same target and key replaces it
in one command (one transaction). (A scheduled one-shot task is a task job with ``after``,
held by a time atom until its time: see ``model.jobspec``.)
"""

from __future__ import annotations

import logging
from typing import Any

from triggerfish.auth.permissions import Principal
from triggerfish.engine import timers
from triggerfish.engine.objects import JobRT
from triggerfish.engine.schedrt import ScheduleRT, Schedules
from triggerfish.engine.state import State
from triggerfish.engine.submit import submit
from triggerfish.errors import Forbidden, NotFound
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.status import TERMINAL
from triggerfish.model.tasks import ScheduleRequest

logger = logging.getLogger(__name__)

RECURRING_KIND = "task-recurring"


# ---------------------------------------------------------------- recurring


def add_schedule(state: State, req: ScheduleRequest, who: Principal) -> dict[str, Any]:
    """Command: add the schedule, or replace the one with the same target and key (which must
    be ``who``'s own, unless ``who`` is admin). The tasks it creates are ``who``'s."""
    reg: Schedules = state.schedules
    key = req.key or ""
    now = state.now
    start = now if req.start is None else req.start
    known = reg.by_key.get((req.target, key))
    if known is not None:
        _check_owner(reg.by_id[known], who, "replacing")
    s = ScheduleRT(
        id=known if known is not None else reg.next_id, target=req.target, key=key, user=who.name,
        params=req.params, encoding=req.encoding, options=req.options(), every=req.every,
        start=start, policy=req.policy, created=now,
    )  # fmt: skip
    if known is None:
        reg.next_id += 1
        state.counters_dirty = True
    else:
        old = reg.by_id[known]
        s.runs, s.skipped, s.last_run, s.last_job = (
            old.runs,
            old.skipped,
            old.last_run,
            old.last_job,
        )
    reg.put(s)
    first = start if start >= now else timers.next_on_grid(start, s.every, now)
    state.timers.add(s.timer_key, first, RECURRING_KIND, {"schedule": s.id})
    logger.info(
        "schedule %s %s: %s every %g s", s.id, "replaced" if known else "added", s.target,
        s.every, extra={"action": "schedule.add", "schedule": s.id},
    )  # fmt: skip
    return info(state, s)


def _get(state: State, sid: int) -> ScheduleRT:
    s: ScheduleRT | None = state.schedules.by_id.get(sid)
    if s is None:
        raise NotFound(f"schedule {sid} does not exist", field="schedule")
    return s


def _check_owner(s: ScheduleRT, who: Principal, doing: str) -> None:
    if not who.may_act_on(s.user):
        raise Forbidden(
            f"schedule {s.id} belongs to {s.user!r}; {doing} it needs the permission 'admin'",
            field="schedule",
        )


def remove_schedule(state: State, sid: int, who: Principal) -> None:
    s = _get(state, sid)
    _check_owner(s, who, "removing")
    state.schedules.delete(s)
    state.timers.cancel(s.timer_key)


def pause(state: State, sid: int, paused: bool, who: Principal) -> dict[str, Any]:
    s = _get(state, sid)
    _check_owner(s, who, "pausing" if paused else "resuming")
    if s.paused != paused:
        s.paused = paused
        state.schedules.touch(s)
        if paused:
            state.timers.cancel(s.timer_key)
        else:
            due = timers.next_on_grid(s.start, s.every, state.now)
            state.timers.add(s.timer_key, due, RECURRING_KIND, {"schedule": s.id})
    return info(state, s)


def info(state: State, s: ScheduleRT) -> dict[str, Any]:
    timer = state.timers.get(s.timer_key)
    out = s.row()
    out["key"] = s.key or None
    out["next_run"] = timer.due if timer is not None else None
    return out


def list_schedules(state: State) -> list[dict[str, Any]]:
    return [info(state, s) for s in sorted(state.schedules.by_id.values(), key=lambda s: s.id)]


def get_schedule(state: State, sid: int) -> dict[str, Any]:
    return info(state, _get(state, sid))


def _busy(state: State, s: ScheduleRT) -> JobRT | None:
    """The schedule's last job while it has not ended (finished jobs leave memory)."""
    if s.last_job is None:
        return None
    job: JobRT | None = state.jobs.get(s.last_job)
    return job if job is not None and job.status not in TERMINAL else None


@timers.handler(RECURRING_KIND)
def _fire(state: State, timer: timers.Timer) -> None:
    s: ScheduleRT | None = state.schedules.by_id.get(int(timer.payload["schedule"]))
    if s is None or s.paused:
        return
    prev = _busy(state, s)
    job_dict = s.request().job()
    job_dict["data"] = {"schedule": s.id, "due": timer.due}
    job_dict["user"] = s.user
    if prev is not None and (s.policy == "skip" or prev.status in ("blocked", "waiting")):
        s.skipped += 1  # the previous run still goes (or a queued one still waits)
    else:
        if prev is not None and s.policy == "queue":
            job_dict["dependency"] = f"link-done-job-{prev.id}"
        answer = submit(state, parse_jobs([job_dict]), s.user)
        s.last_job = answer.jobs[0].id
        s.last_run = state.now
        s.runs += 1
    state.schedules.touch(s)
    due = timers.next_on_grid(s.start, s.every, state.now)
    state.timers.add(s.timer_key, due, RECURRING_KIND, {"schedule": s.id})
