"""Where a job's ``requirements`` and ``hostorder`` (model.requirements) act in the engine.

``requirements`` are checked by ``JobRT.eligible`` with the host's facts (engine.hostfacts).
Here: why a pending job gets no host (:func:`unmatched`, the ``reason`` of the job view), and
``hostorder`` (:func:`better_elsewhere`).

Dispatch is host-driven: a worker asks, and the engine picks jobs for it. ``hostorder`` orders
the hosts that wait for work at the same moment (their long polls parked in the engine): a
job whose hostorder prefers another such host, eligible and with a free slot, is left to it
(that host's pull is served in the same batch). A host busy with other work is not waited
for, and an instance that ends an item goes on with the next one on its host, as in Qube,
where hostorder chooses the host and the job then fills it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from triggerfish.engine import reserve
from triggerfish.engine.hostfacts import facts_now
from triggerfish.model.jobspec import BUILTIN_PROTOTYPES
from triggerfish.model.requirements import RequirementsError, hostorder, matches, rank

if TYPE_CHECKING:
    from triggerfish.engine.objects import HostRT, JobRT
    from triggerfish.engine.state import State


def may_be_unmatched(row: Mapping[str, Any]) -> bool:
    """Whether a stored job row may be one that :func:`unmatched` names: pending, with
    requirements or reservations or a job type, and no other reason."""
    fields = row.get("fields") or {}
    return (
        row["status"] == "pending"
        and not row["reason"]
        and bool(
            fields.get("requirements")
            or fields.get("reservations")
            or row.get("prototype") not in BUILTIN_PROTOTYPES
        )
    )


def unmatched(state: State, ids: Iterable[int]) -> dict[int, str]:
    """``{job id: why}`` for those of ``ids`` that are pending with a job type that no host up
    now offers, with requirements that no host up now (offering its job type) meets, or with
    reservations that wait (``engine.reserve.waits_for``)."""
    out: dict[int, str] = {}
    hosts = [h for h in state.hosts.values() if h.state == "active"]
    for job_id in ids:
        job = state.jobs.get(job_id)
        if job is None or job.status != "pending":
            continue
        why = _why(state, job, hosts)
        if why:
            out[job_id] = why
    return out


def _why(state: State, job: JobRT, hosts: list[HostRT]) -> str:
    jobtype = job.jobtype
    if jobtype is not None:
        hosts = [h for h in hosts if jobtype in h.jobtypes]
        if not hosts:
            return f"no host offers job type {jobtype}"
    text = job.fields.get("requirements")
    if text and not any(matches(text, facts_now(h)) for h in hosts):
        return f"no host matches requirements {text}"
    if job.fields.get("reservations") and not job.tally.get("running"):
        return reserve.waits_for(state, job) or ""
    return ""


def better_elsewhere(state: State, job: JobRT, host: HostRT) -> bool:
    """Whether ``job``'s hostorder prefers another host that waits for work now (parked, up,
    eligible, with a free slot) to ``host``; that host's pull is then served in this batch."""
    text = job.fields.get("hostorder")
    if not text or len(state.parked) < 2:
        return False
    try:
        keys = hostorder(text)
    except RequirementsError:  # (stored by another version: no order)
        return False
    mine = rank(keys, facts_now(host))
    for name in state.parked:
        other = state.hosts.get(name)
        if other is None or other is host or not _waits(other) or not job.eligible(other):
            continue
        if not reserve.fits(state, job, other):
            continue
        if rank(keys, facts_now(other)) < mine:
            state.work_available = True
            return True
    return False


def _waits(host: HostRT) -> bool:
    return host.state == "active" and host.free > 0 and not host.adopt and not host.unheard
