"""Flight checks in the engine (Qube's ``preflights`` / ``postflights`` /
``agenda_preflights`` / ``agenda_postflights``; the worker runs them: ``worker.flights``).

- A failed preflight (``Report.preflight``): the command did not run. Its item (or instance)
  goes back to ``pending`` with no failed attempt counted, the job avoids that host from then
  on (``JobRT.grounded``, not stored: a restart of the supervisor forgets it), and a
  ``preflight`` job event names the host, the program and its exit code. A pending job that no
  host left can run says so in its ``reason`` (:func:`reasons`).
- A failed agenda postflight is a failed attempt of its item: the worker reports it so.
- The instance's postflights run when its last item on a host has ended well and the instance
  has nothing more to run there (:func:`hold`): the item stays ``running`` while a postflight
  attempt (same slot, new token, ``Assignment.flight = "postflight"``) runs them on that host;
  that attempt's report is the item's: complete, or a failed attempt of the item (with a
  ``postflight`` job event). An instance whose running item is taken away (``interrupt``,
  ``migrate``, aggressive preemption, its host down) runs no postflights there.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from triggerfish.api import schemas as s
from triggerfish.engine import ahead, preempt, reserve
from triggerfish.engine.objects import Attempt, HostRT, JobRT, SubRT
from triggerfish.model.flights import of_job, programs, timeout_of

if TYPE_CHECKING:
    from triggerfish.engine.state import State

logger = logging.getLogger(__name__)

POSTFLIGHT = "postflight"


def assignment_flights(job: JobRT) -> s.Flights | None:
    """What the worker needs of the job's flight checks (None: it has none)."""
    f = job.fields
    if not (f.get("preflights") or f.get("postflights") or f.get("agenda_preflights")
            or f.get("agenda_postflights")):  # fmt: skip
        return None
    names = of_job(f)
    return s.Flights(**names, timeout=timeout_of(f)) if names else None


def _why(pf: s.PreflightFailure) -> str:
    if pf.exit_code is not None:
        return f"{pf.program!r} exited with {pf.exit_code}"
    return f"{pf.program!r}: {pf.error or 'failed'}"


def refused(state: State, host: HostRT, job: JobRT, a: Attempt, pf: s.PreflightFailure) -> None:
    """A preflight of ``a`` failed on ``host``: its work goes back to pending, no attempt
    counted; the job avoids ``host`` from now on; a ``preflight`` job event."""
    why = _why(pf)
    job.grounded[host.name] = why
    job.avoid.add(host.name)
    state.refile(job)
    ev = {"program": pf.program, "exit_code": pf.exit_code, "error": pf.error}
    state.emit("preflight", "job", job=job.id, subid=a.subid, work=a.work, host=host.name,
               data=ev)  # fmt: skip
    data = {"reason": f"preflight failed on {host.name}: {why}"}
    sub = job.subs.get(a.subid)
    if sub is not None and sub.ahead:
        ahead.drop_sub(state, job, sub)
    if a.work is not None:
        w = job.work[a.work]
        w.token = None
        if w.status in ("running", "suspended"):
            state.set_work(job, w, "pending", data=data)
    if sub is not None and sub.status in ("running", "suspended"):
        sub.work = sub.token = None
        state.set_sub(job, sub, "pending", quiet=a.work is not None, data=data)
    state.work_available = True
    logger.info(
        "preflight failed",
        extra={"action": "flight.preflight_failed", "job": job.id, "instance": a.subid,
               "item": a.work, "host": host.name, "why": why},
    )  # fmt: skip


def has_postflights(job: JobRT) -> bool:
    return bool(job.fields.get("postflights")) and bool(programs(job.fields["postflights"]))


def _goes_on(state: State, host: HostRT, job: JobRT, sub: SubRT) -> bool:
    """Whether instance ``sub`` runs another item of ``job`` on ``host`` next (what
    ``dispatch.start_next`` will decide)."""
    if sub.ahead:
        return True
    if job.status not in ("pending", "running") or sub.subid >= job.cpus:
        return False
    if not host.takes_work or not job.eligible(host) or not reserve.fits(state, job, host):
        return False
    return job.has_pending() and preempt.rival(state, host, job) is None


def hold(state: State, host: HostRT, job: JobRT, sub: SubRT | None, a: Attempt) -> bool:
    """``a`` (an item) ended well. If it is its instance's last item on ``host`` and the job
    has postflights, the item stays running while a postflight attempt runs them there (True);
    the caller then leaves the item and its instance as they are."""
    if a.flight is not None or sub is None or a.work is None or not has_postflights(job):
        return False
    if _goes_on(state, host, job, sub):
        return False
    token = secrets.token_hex(8)
    p = Attempt(token, host.name, job.id, sub.subid, a.work, flight=POSTFLIGHT)
    state.attempts[token] = p
    host.attempts[token] = p
    reserve.take(state, job, host, p)  # (its slots and licenses, until the postflights end)
    w = job.work[a.work]
    w.token = token
    state.touch_work(job, w)
    return True


def postflight_failed(state: State, host: HostRT, job: JobRT, a: Attempt, r: s.Report) -> None:
    """The postflight attempt ``a`` failed: a ``postflight`` job event (the item's failed
    attempt is recorded by the caller)."""
    state.emit("postflight", "job", job=job.id, subid=a.subid, work=a.work, host=host.name,
               data={"exit_code": r.exit_code, "error": r.error})  # fmt: skip


def reasons(state: State, ids: Iterable[int]) -> dict[int, str]:
    """``{job id: why}`` for the pending jobs of ``ids`` that avoid hosts whose preflight
    failed and that no other host up now can run."""
    out: dict[int, str] = {}
    hosts = [h for h in state.hosts.values() if h.state == "active"]
    for job_id in ids:
        job = state.jobs.get(job_id)
        if job is None or job.status != "pending" or not job.grounded:
            continue
        if any(job.eligible(h) for h in hosts):
            continue
        failed = "; ".join(f"{h}: {why}" for h, why in sorted(job.grounded.items()))
        out[job_id] = f"preflight failed on every host that can run it ({failed})"
    return out
