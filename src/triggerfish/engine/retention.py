"""Retention (``triggerfish supervisor --retention DURATION``): what is old goes.

A finished job (complete, failed, killed) whose last change is older than the retention is
deleted with everything of it: work items, instances, events, callbacks and their runs (its
logs are the supervisor's to delete). Events and callback runs tied to no job (hosts, global
callbacks) go once older than the retention. Nothing of an unfinished job is touched, and a
finished job changed since the cutoff (retried, modified) waits for its own turn.
"""

from __future__ import annotations

from triggerfish.engine.callbacks import remove_job_callbacks
from triggerfish.engine.state import State
from triggerfish.model.status import TERMINAL

PURGE_JOBS = 200  # finished jobs deleted per engine batch (each may bring many events)


def purge(state: State, cutoff: float, limit: int = PURGE_JOBS) -> list[int]:
    """Delete up to ``limit`` finished jobs last changed before ``cutoff``, and the events and
    runs of no job older than it, in this batch's commit; returns the jobs' ids."""
    gone = []
    for job_id in state.store.finished_before(cutoff, limit):
        job = state.jobs.get(job_id)
        changed = job_id in state.dirty_jobs or (
            job is not None and (job.status not in TERMINAL or job.lastupdate >= cutoff)
        )
        if changed:
            continue  # changed since (in this very batch, say): not old any more
        if job is not None:
            del state.jobs[job_id]
            state.runnable.discard(job_id)
        remove_job_callbacks(state, job_id)
        gone.append(job_id)
    state.ch.purge_jobs.extend(gone)
    state.ch.purge_before = cutoff
    return gone
