"""The next jobs held behind a slot: lookahead across jobs, for queues of one-item jobs.

Lookahead (``engine.ahead``) holds the next items of the *same* instance for the host running
it. A queue of background tasks, or of single-frame render jobs, has no next item: every job
has one. Without more, a worker sends one report per job and waits one round trip before it
can start the next, and the supervisor answers one request and writes one commit per job.

So when an item ended quickly on a host that accepts lookahead (``HostRT.ahead``) and its job
has nothing left for that slot, the supervisor also *holds* the next runnable jobs for it, in
the order dispatch would take them (priority, then id), each job's one remaining item. They go
to the worker with ``after`` set, chained behind the attempt now running; the worker starts
each one the moment the one before it ends and reports several ends in one request. As with
lookahead, a held job stays ``pending`` (in the store and every count) and no other host can
take it; its ``assigned`` host event is written when it is handed out, and it becomes
``running`` when the end of the attempt before it is processed: its *claim*.

Only what dispatch would hand this host next is held, and only jobs that have exactly one
item left to run (more would mix with the job's own lookahead), no callback waiting on their
end (those are reported at once), and no more than an even share of the runnable jobs per
active slot of the farm, so that other hosts get theirs. A hold that is no longer valid when
it comes up (the job or its item changed, the host went away) is withdrawn: the item goes
back to pending and the worker is told to cancel the token.

As an item held by lookahead, a held job is written down: its item keeps the hold's token
and host while it is pending. (A task is not a frame: run twice, it may do its work twice.)
So after a restart of the supervisor (or a reload of its state), such an item is not handed
to anyone else: it stays held for its host (``HostRT.adopt``), which gets no new work
meanwhile. The worker's first pull after that lists what it runs and holds queued
(``hear``): a hold it does not list goes back to pending at once (it never got it); one it
lists is claimed when the worker reports or lists it running (it started it from its queue),
or given back when the worker has said nothing more of it for ``ADOPT_GRACE`` seconds.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from triggerfish.engine import ahead, flights, placement, reserve
from triggerfish.engine.objects import Attempt, HostRT, JobRT, SubRT, WorkRT
from triggerfish.model.reservations import PLAIN

if TYPE_CHECKING:
    from triggerfish.engine.state import State

JOB_END_EVENTS = ("complete", "failed", "done")
ADOPT_GRACE = 15.0  # seconds a hold read back after a restart waits for its worker


def share(state: State) -> int:
    """How many runnable jobs one slot may hold: an even share per active slot."""
    if not state.runnable:  # (the usual case without a backlog: no walk over the hosts)
        return 0
    slots = sum(h.slots for h in state.hosts.values() if h.takes_work)
    return len(state.runnable) // slots if slots else 0


def hold(state: State, host: HostRT, behind: Attempt, want: int) -> None:
    """Hold the next jobs for ``host`` behind ``behind`` (and what is held behind it already)
    until ``want`` are held, in dispatch order; stop at the first job that cannot be held."""
    if want <= 0 or not host.takes_work or host.adopt or behind.token not in host.attempts:
        return
    chain = host.chains.get(behind.token, [])
    want = min(want, len(chain) + share(state))
    order = state.ordered_runnable()
    i = 0
    while len(chain) < want and i < len(order):
        job = order[i]
        if (
            not job.eligible(host)
            or placement.better_elsewhere(state, job, host)
            or flights.has_postflights(job)  # (they run on the slot after it: engine.flights)
        ):
            i += 1
            continue
        if reserve.need(job) is not PLAIN:  # (what it takes is booked when it starts)
            break
        item = _one_left(state, job)
        sub = job.idle_sub()
        if item is None or sub is None:
            if item is not None:
                job.push_pending(item)
            break
        a = Attempt(secrets.token_hex(8), host.name, job.id, sub.subid, item.name)
        a.delivered = state.now
        item.reserved = a.token
        _write_hold(state, job, item, a)
        host.outbox.append((a, chain[-1].token if chain else behind.token))
        chain.append(a)
        host.reserved[a.token] = a
        state.held_jobs[job.id] = a
        # handed to the host now: that is its dispatch (it starts when the one before ends)
        state.assigned(job, sub, item, host.name)
        state.update_runnable(job)  # it has nothing pending now: off the queue
        order = state.ordered_runnable()
        if i < len(order) and order[i] is job:
            i += 1
    if chain:
        host.chains[behind.token] = chain


def _one_left(state: State, job: JobRT) -> WorkRT | None:
    """The job's one pending item, taken off its queue, if the job may be held as a whole."""
    if not job.work or job.status not in ("pending", "running") or job.id in state.held_jobs:
        return None
    item = job.pop_pending()
    if item is None:
        return None
    if job.has_pending() or ahead.watched(state, job.id, item.name) or _job_watched(state, job):
        job.push_pending(item)
        return None
    return item


def _job_watched(state: State, job: JobRT) -> bool:
    """Whether a callback waits on the job's end: its end is reported at once, not held."""
    index = state.cbs.index
    return bool(len(index)) and any(index.match(n, "job", job.id, None) for n in JOB_END_EVENTS)


def claim(
    state: State, host: HostRT, chain: list[Attempt]
) -> tuple[Attempt, JobRT, SubRT, WorkRT, list[Attempt]] | None:
    """The first still-valid hold of ``chain`` (whose attempt before it has ended), taken off
    the books with the holds after it; invalid ones before it are withdrawn. The caller
    starts it under the hold's token and keeps the rest behind it (:func:`rekey`)."""
    while chain:
        a = chain.pop(0)
        host.reserved.pop(a.token, None)
        if state.held_jobs.get(a.job_id) is a:
            del state.held_jobs[a.job_id]
        job = state.jobs.get(a.job_id)
        item = job.work.get(a.work) if job is not None and a.work is not None else None
        if job is None or item is None or item.reserved != a.token:
            ahead.withdrawn(state, host, a.token)
            continue
        _erase_hold(state, job, a)
        sub = job.subs.get(a.subid)
        if sub is None or sub.status != "pending" or sub.subid >= job.cpus:
            sub = job.idle_sub()
        if (
            item.status != "pending"
            or sub is None
            or job.status not in ("pending", "running")
            or not host.takes_work
            or not job.eligible(host)
            or reserve.need(job) is not PLAIN
        ):
            ahead.unhold(state, job, a)  # pending again (if it still is), for anyone
            ahead.withdrawn(state, host, a.token)
            continue
        item.reserved = None
        return a, job, sub, item, chain
    return None


def rekey(host: HostRT, token: str, rest: list[Attempt]) -> None:
    """What was held behind a claimed hold is now held behind its attempt."""
    if rest:
        host.chains[token] = rest


def drop_chain(state: State, host: HostRT, token: str) -> None:
    """The attempt ``token`` will not be reported (lost, stopped): withdraw what is held behind
    it (the worker would start it on its own)."""
    for a in reversed(host.chains.pop(token, [])):  # last first: the worker's chain stays whole
        _forget(state, host, a)
        ahead.withdrawn(state, host, a.token)


def drop_job(state: State, job: JobRT, *, requeue: bool = True) -> None:
    """``job`` is held behind another one and something else changes it (or its item, when
    not ``requeue``: the item is about to change, it is not put back in the queue): withdraw
    the hold (the worker runs the rest of the chain after the one before it)."""
    a = state.held_jobs.pop(job.id, None)
    if a is None:
        return
    host = state.hosts.get(a.host)
    if host is not None:
        _unchain(host, a)
        host.reserved.pop(a.token, None)
        ahead.withdrawn(state, host, a.token)
    if host is not None:
        host.adopt.pop(a.token, None)
    _erase_hold(state, job, a)
    if requeue:
        ahead.unhold(state, job, a)
    elif a.work is not None and (w := job.work.get(a.work)) is not None and w.reserved == a.token:
        w.reserved = None


def release(state: State, host: HostRT, a: Attempt) -> bool:
    """The worker gives the hold ``a`` back (the attempt before it runs long); False if ``a``
    is no hold of a whole job."""
    if state.held_jobs.get(a.job_id) is not a:
        return False
    _unchain(host, a)
    _forget(state, host, a)
    return True


def drop_host(state: State, host: HostRT) -> None:
    for token in list(host.chains):
        drop_chain(state, host, token)
    for a in list(host.adopt.values()):
        _forget(state, host, a)


def _unchain(host: HostRT, a: Attempt) -> None:
    for token, chain in host.chains.items():
        if a in chain:
            chain.remove(a)
            if not chain:
                del host.chains[token]
            return


def _forget(state: State, host: HostRT, a: Attempt) -> None:
    """Off the books, its item pending again."""
    host.reserved.pop(a.token, None)
    host.adopt.pop(a.token, None)
    if state.held_jobs.get(a.job_id) is a:
        del state.held_jobs[a.job_id]
    job = state.jobs.get(a.job_id)
    if job is not None:
        _erase_hold(state, job, a)
        ahead.unhold(state, job, a)


def _write_hold(state: State, job: JobRT, item: WorkRT, a: Attempt) -> None:
    """The hold goes into the item's row (still pending): its token and host, no instance
    (it takes an idle one of its job when it starts; a hold with an instance is a lookahead
    hold behind the item that instance runs: ``ahead.restore`` tells them apart so)."""
    item.token, item.host, item.subid = a.token, a.host, None
    state.touch_work(job, item)


def _erase_hold(state: State, job: JobRT, a: Attempt) -> None:
    item = job.work.get(a.work) if a.work is not None else None
    if item is not None and a.token is not None:
        ahead.erase_hold(state, job, item, a.token)


# ------------------------------------------------------------------ after a restart


def restore(state: State, job: JobRT, item: WorkRT) -> None:
    """Loading: a pending item with a token was held for a host when the supervisor stopped.
    It stays held for that host (if it is still up) until the worker reports or lists it."""
    host = state.hosts.get(item.host or "")
    token = item.token
    if host is None or host.state != "active" or token is None or job.id in state.held_jobs:
        item.token = item.host = None
        state.touch_work(job, item)
        return
    a = Attempt(token, host.name, job.id, item.subid or 0, item.name)
    a.delivered = state.now
    item.reserved = token
    host.reserved[token] = a
    host.adopt[token] = a
    host.unheard = True
    state.held_jobs[job.id] = a


def adopt(state: State, host: HostRT, token: str) -> tuple[Attempt, JobRT, SubRT, WorkRT] | None:
    """The worker reports or lists ``token``, held for it before a restart: it started it from
    its queue. Taken off the books for the caller to start, if still valid (else withdrawn)."""
    a = host.adopt.pop(token, None)
    if a is None:
        return None
    got = claim(state, host, [a])
    if got is None:
        return None
    held, job, sub, item, _rest = got
    return held, job, sub, item


def hear(state: State, host: HostRT, listed: set[str]) -> None:
    """The worker's first pull since the holds were read back lists what it runs and holds
    (``listed``): the holds it does not list go back at once (it never had them); those it
    holds queued wait for it to start them, ``ADOPT_GRACE`` from now."""
    for a in list(host.adopt.values()):
        if a.token in listed:
            a.delivered = state.now
        else:
            _forget(state, host, a)
            ahead.withdrawn(state, host, a.token)


def expire(state: State, host: HostRT) -> None:
    """Give back the holds read back after a restart that the worker has not claimed in
    ``ADOPT_GRACE`` seconds (it never had them, or dropped them)."""
    limit = state.now - ADOPT_GRACE
    for a in [a for a in host.adopt.values() if (a.delivered or 0) < limit]:
        _forget(state, host, a)
        ahead.withdrawn(state, host, a.token)
