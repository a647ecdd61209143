"""What dispatch and the worker protocol need of the verbs of :mod:`triggerfish.engine.verbs`
(a module of its own: those verbs import the worker protocol, which imports this)."""

from __future__ import annotations

from triggerfish.engine.objects import HostRT, JobRT, SubRT, WorkRT
from triggerfish.engine.state import State


def take_signals(host: HostRT) -> tuple[list[str], list[str]]:
    """The (suspend, resume) tokens to tell ``host`` now; only its live attempts."""
    if not host.signals:
        return [], []
    sigs, host.signals = host.signals, {}
    live = [(t, stop) for t, stop in sigs.items() if t in host.attempts]
    return [t for t, stop in live if stop], [t for t, stop in live if not stop]


def started(state: State, job: JobRT, unit: WorkRT | SubRT) -> None:
    """A migrated unit started again (elsewhere): the job stops avoiding hosts it no longer
    needs to avoid."""
    if unit.avoid is None:
        return
    unit.avoid = None
    units: list[WorkRT | SubRT] = [*job.work.values(), *job.subs.values()]
    job.avoid = {u.avoid for u in units if u.avoid is not None} | set(job.grounded)
    state.refile(job)


def take_shoved(state: State) -> list[JobRT]:
    """The open jobs shoved (``shove J``: dispatched now, ahead of priority), most urgent
    first; the flags are spent."""
    if not state.shoved:
        return []
    ids, state.shoved = state.shoved, set()
    return [j for j in state.open_runnable() if j.id in ids]
