"""Why an instance gets no next item when its attempt's report is accepted (issue 18).

A report's answer says, for each reported token whose instance goes on with nothing (no next
item started on its slot, none held ahead for it), why: ``complete`` (the job has no more work
for it), ``pending`` (its slot went to other work: passive preemption, a host that takes no
more work) or ``blocked`` (the job is blocked, suspended or waits, or what is left of its
agenda is blocked). A job type's process gets it as the status of ``qb.requestwork()``; a
command line's worker ignores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from triggerfish.api.schemas import Assignment
    from triggerfish.engine.objects import Attempt, HostRT
    from triggerfish.engine.state import State

Ended = Literal["complete", "pending", "blocked"]
_HELD = ("blocked", "suspended", "waiting")


def why(state: State, host: HostRT, a: Attempt) -> Ended | None:
    """Why the instance of ``a`` (just reported and recorded) runs no next item on ``host``;
    None when it does (an item started on its slot, or one held ahead for it)."""
    job = state.jobs.get(a.job_id)
    if job is None:
        return "complete"
    sub = job.subs.get(a.subid)
    if sub is not None and sub.ahead:
        return None
    for x in host.attempts.values():
        if x.job_id == a.job_id and x.subid == a.subid and x.flight is None:
            return None
    if job.status in _HELD:
        return "blocked"
    if job.status in ("pending", "running") and a.subid < job.cpus:
        if job.has_pending():
            return "pending"
        if job.tally.get("blocked"):  # (what is left of its agenda is blocked)
            return "blocked"
    return "complete"


def note(state: State, host: HostRT, a: Attempt, ended: dict[str, Ended],
         whose: dict[str, tuple[int, int]]) -> None:  # fmt: skip
    """Put ``a``'s token in ``ended`` (and its job and instance in ``whose``) when its
    instance runs no next item (:func:`why`)."""
    got = why(state, host, a)
    if got is not None:
        ended[a.token] = got
        whose[a.token] = (a.job_id, a.subid)


def went_on(ended: dict[str, Ended], whose: dict[str, tuple[int, int]],
            assignments: list[Assignment]) -> None:  # fmt: skip
    """Forget the tokens of ``ended`` (``whose``: their job and instance) whose instance got
    a new attempt in the answer after all (the host's free slots filled at its end)."""
    if not ended or not assignments:
        return
    given = {(x.job, x.subid) for x in assignments if x.after is None}
    for token, key in whose.items():
        if key in given:
            ended.pop(token, None)
