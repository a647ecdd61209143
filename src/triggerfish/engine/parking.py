"""Parked pulls: a worker's long poll that found nothing waits inside the engine.

A pull with nothing to hand out is *parked* on its host: the engine keeps the request and the
reply it owes. Whatever batch later makes work for that host (an add, a report that frees a
slot, a callback that unblocks a job) serves the parked pull right there, before it commits:
the work is claimed in the same transaction that created it, and the worker gets its answer
with that commit. Before, an idle worker was woken after the commit and sent the pull again,
a second engine batch and a second commit for every task it got this way.

Parking, serving and taking back (``unpark``, when the long poll's time is up) are all engine
commands or part of one, so a pull is never both served and answered empty, and no work made
between the pull and its parking is missed (the pull itself would have found it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from triggerfish.api import schemas as s
from triggerfish.engine import workers
from triggerfish.engine.objects import HostRT
from triggerfish.engine.state import State
from triggerfish.engine.workers import SessionGone, pull

# how many times one batch serves parked pulls again, when what it just served (its events'
# callbacks) made more work
MAX_ROUNDS = 16


class Answer(Protocol):
    """Where a parked pull's answer goes: an engine reply (``AsyncReply``, or a plain
    ``concurrent.futures.Future``); it is delivered after the commit of the batch."""

    def set_result(self, value: Any) -> None: ...

    def set_exception(self, exc: BaseException) -> None: ...


@dataclass(slots=True)
class Parked:
    req: s.PullRequest
    arrived: float
    answer: Answer


def pull_or_park(
    state: State, name: str, req: s.PullRequest, arrived: float, answer: Answer
) -> s.PullResponse | None:
    """The pull; if it has nothing to hand out or cancel, park it and return None: ``answer``
    gets the response when work comes (or an empty one when another pull of the host
    replaces this one)."""
    resp = pull(state, name, req, arrived)
    if resp.assignments or resp.cancel or resp.suspend or resp.resume or req.wait <= 0:
        return resp
    old = state.parked.pop(name, None)
    if old is not None:  # the worker gave up on that one (its connection broke)
        state.answers.append((old.answer, s.PullResponse(), None))
    state.parked[name] = Parked(req, arrived, answer)
    return None


def unpark(
    state: State, name: str, req: s.PullRequest, arrived: float, answer: Answer
) -> s.PullResponse | None:
    """The long poll's time is up: take the parked pull back and run it once more (the
    worker's heartbeat answer). None if it was served or replaced meanwhile: ``answer`` has
    its response already, or gets it with that commit."""
    p = state.parked.get(name)
    if p is None or p.answer is not answer:
        return None
    del state.parked[name]
    return pull(state, name, req, arrived)


def serve(state: State) -> None:
    """Serve the parked pulls that this batch may have made work for: a host it woke
    (something to cancel), or a host with a free slot when work became available. The flags
    are consumed here, so that what the callbacks run next set again is seen by the next
    round."""
    if not state.parked or not (state.work_available or state.wake_hosts):
        return
    woken, state.wake_hosts = state.wake_hosts, set()
    # (a slot that frees, an instance going back to pending, sets the flag too: with no job
    # runnable there is nothing for a pull to get, and it is not run again)
    fresh = state.work_available and bool(state.runnable)
    state.work_available = False
    open_jobs = state.open_jobs()
    idle = _never if open_jobs.ordered() else open_jobs.still_idle
    for name, p in list(state.parked.items()):
        host = state.hosts.get(name)
        if host is None or host.state != "active":
            # marked down while its pull waited: no new work until the worker calls in again
            # (its pull, taken back when its time is up, does that)
            continue
        if name not in woken and (not fresh or host.free <= 0 or host.locked):
            continue
        if name not in woken and (idle(host) or not workers.dispatch(state, host)):
            continue  # (nothing for it: its pull stays parked as it is)
        try:
            resp = pull(state, name, p.req, p.arrived)
        except SessionGone as exc:  # the worker registered again since it pulled
            del state.parked[name]
            state.answers.append((p.answer, None, exc))
            continue
        if resp.assignments or resp.cancel or resp.suspend or resp.resume:
            del state.parked[name]
            state.answers.append((p.answer, resp, None))


def _never(_host: HostRT) -> bool:
    return False


def more(state: State) -> bool:
    """Whether a parked pull may have work now (what was served or fired since the last
    round set the flags again)."""
    return bool(state.parked) and (state.work_available or bool(state.wake_hosts))


def release_all(state: State, exc: BaseException | None = None) -> None:
    """Answer every parked pull now: empty (the worker pulls again at once), or with
    ``exc``."""
    for p in state.parked.values():
        state.answers.append((p.answer, None if exc else s.PullResponse(), exc))
    state.parked.clear()
