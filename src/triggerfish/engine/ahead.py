"""Lookahead: the next agenda items of an instance, held for the host that runs it.

A worker that runs short items would otherwise wait one round trip to the supervisor between
two items, and send one request per item. So when an item of an instance ends quickly (the
worker measured it under ``AHEAD_SECONDS``), the supervisor *reserves* the instance's next
pending items for that host (up to the worker's ``ahead``, about ``AHEAD_HORIZON`` of work,
and no more than an even share of the job's pending items per running instance; never an item
that a callback waits on, see ``watched``)
and sends them with ``after`` set: the worker starts each one the moment the one before it
ends, and reports several ends in one request.

A reserved item stays ``pending`` (in the store and in every count) and no other host can take
it. Its ``assigned`` host event is written when it is handed out (that is its dispatch). It
becomes ``running`` only when the end of the item before it is processed: that is the
*claim*, the same transition a freshly dispatched item makes (without a second ``assigned``),
so every work event, latch and callback stays as it was, only the moment moves by the
batching window. A reservation that is
no longer valid when it comes up (the item or its job changed, the host went away) is
withdrawn: the item goes back to pending and the worker is told to cancel the token. A worker
gives reservations back (``release``) when the item before them runs long.

A reservation is written down, in the same commit that hands it out: the item's row keeps
the hold's token, host and instance while it is pending (``write_hold``), and loses them when
the hold goes (``erase_hold``). A held item may already run on its worker: the supervisor
reads its holds back when it restarts or reloads its state after a failed commit
(``restore``), hands none of those items to anyone else, and takes its worker's word for what
it holds before it goes on (``hear``): the worker's first pull after that lists the tokens it
runs and those it holds queued, in the order it runs them. The holds it lists are kept, in that
order; those it does not list (the answer carrying them was lost) go back to pending. Until
that pull, the worker's reports wait (``Unheard``): the claim of a held item follows the order
of the worker's queue, which only the worker knows for sure.
"""

from __future__ import annotations

import math
import secrets
from typing import TYPE_CHECKING

from triggerfish.engine.objects import Attempt, HostRT, JobRT, SubRT, WorkRT
from triggerfish.errors import TriggerfishError

if TYPE_CHECKING:
    from triggerfish.engine.state import State

AHEAD_SECONDS = 0.5  # items that ran longer than this get no lookahead
AHEAD_HORIZON = 0.1  # seconds of work to hold queued behind the running item


class Unheard(TriggerfishError):
    """The supervisor read this host's holds back from the store and waits for its worker's
    next pull (what it holds, in order) before it takes its reports: send it, then retry."""

    code = "holds_unheard"
    http_status = 503


def wanted(host: HostRT, seconds: float | None) -> int:
    """How many items to hold behind an instance whose last item ran ``seconds``."""
    if host.ahead <= 0 or seconds is None or seconds >= AHEAD_SECONDS:
        return 0
    return min(host.ahead, max(1, math.ceil(AHEAD_HORIZON / max(seconds, 1e-4))))


def top_up(state: State, host: HostRT, job: JobRT, sub: SubRT, want: int) -> None:
    """Reserve pending items of ``job`` behind ``sub``'s running one until it holds ``want``."""
    if not job.work or sub.token is not None or sub.work is None:
        return
    current = job.work.get(sub.work)
    if current is None or current.token is None:
        return
    want = min(want, len(sub.ahead) + _share(job))
    if want > len(sub.ahead) and _outranked(state, host, job):
        return  # a more urgent job waits for this slot: its next boundary gives it up
    while len(sub.ahead) < want:
        item = job.pop_pending()
        if item is None:
            return
        if watched(state, job.id, item.name):
            # a callback waits on its end: it runs the usual way, reported the moment it ends
            job.push_pending(item)
            return
        after = sub.ahead[-1].token if sub.ahead else current.token
        a = Attempt(secrets.token_hex(8), host.name, job.id, sub.subid, item.name)
        a.delivered = state.now
        item.reserved = a.token
        write_hold(state, job, item, a)
        sub.ahead.append(a)
        host.reserved[a.token] = a
        host.outbox.append((a, after))
        # handed to the host now: that is its dispatch (it starts when the one before ends)
        state.assigned(job, sub, item, host.name)


def _outranked(state: State, host: HostRT, job: JobRT) -> bool:
    from triggerfish.engine import preempt  # (preempt withdraws holds: it imports this)

    return preempt.rival(state, host, job) is not None


def watched(state: State, job_id: int, work: str | None) -> bool:
    """Whether a callback waits on this item's end (a dependent frame, a notification): such
    items are not held ahead, and their worker reports their end without waiting for others,
    so that what depends on them starts as early as it can."""
    index = state.cbs.index
    if work is None or not len(index):
        return False
    return bool(
        index.match("complete", "work", job_id, work) or index.match("done", "work", job_id, work)
    )


def _share(job: JobRT) -> int:
    """How many more pending items one running instance of ``job`` may hold: an even share of
    those not held yet, so that when items trickle in (dependencies) they are spread over the
    instances, not queued behind one of them."""
    running = held = 0
    for s in job.subs.values():
        if s.status == "running":
            running += 1
        held += len(s.ahead)
    free = job.tally.get("pending", 0) - held
    return free // running if running else free


def claim(state: State, host: HostRT, job: JobRT, sub: SubRT) -> tuple[Attempt, WorkRT] | None:
    """The first still-valid reservation behind ``sub``, taken off the books (invalid ones
    before it are withdrawn); the caller starts it under the reservation's token."""
    while sub.ahead:
        a = sub.ahead.pop(0)
        host.reserved.pop(a.token, None)
        item = job.work.get(a.work) if a.work is not None else None
        if item is None or item.reserved != a.token:
            withdrawn(state, host, a.token)
            continue
        item.reserved = None
        if item.status != "pending":
            withdrawn(state, host, a.token)
            continue
        return a, item
    return None


def drop_sub(state: State, job: JobRT | None, sub: SubRT) -> None:
    """Withdraw every reservation behind ``sub`` (its chain on the worker is broken)."""
    while sub.ahead:
        a = sub.ahead.pop()
        host = state.hosts.get(a.host)
        if host is not None:
            host.reserved.pop(a.token, None)
            withdrawn(state, host, a.token)
        if job is not None:
            unhold(state, job, a)


def drop_job(state: State, job: JobRT) -> None:
    for sub in job.subs.values():
        if sub.ahead:
            drop_sub(state, job, sub)


def drop_host(state: State, host: HostRT) -> None:
    """Withdraw every reservation of ``host`` (it registered again or went down)."""
    for a in list(host.reserved.values()):
        job = state.jobs.get(a.job_id)
        sub = job.subs.get(a.subid) if job is not None else None
        if sub is not None:
            drop_sub(state, job, sub)
    host.reserved.clear()
    host.outbox.clear()  # (host.cancel keeps the withdrawn tokens: the worker drops them)
    host.unheard = False


def drop_item(state: State, job: JobRT, w: WorkRT) -> None:
    """``w`` is changed by something else than its claim: withdraw its reservation (the
    worker runs the rest of the chain after the one before it)."""
    token = w.reserved
    w.reserved = None
    if token is not None and w.token == token:  # (its status changes next: that writes it)
        w.token = w.host = None
    for sub in job.subs.values():
        for i, a in enumerate(sub.ahead):
            if a.token == token:
                del sub.ahead[i]
                host = state.hosts.get(a.host)
                if host is not None:
                    host.reserved.pop(a.token, None)
                    withdrawn(state, host, a.token)
                return


def release(state: State, host: HostRT, tokens: list[str]) -> None:
    """The worker gives back reservations it will not start (the item before them runs long)."""
    for token in tokens:
        a = host.reserved.get(token)
        if a is None:
            continue
        job = state.jobs.get(a.job_id)
        sub = job.subs.get(a.subid) if job is not None else None
        if sub is None or job is None:
            host.reserved.pop(token, None)
            continue
        # the released one and everything queued after it
        at = next((i for i, b in enumerate(sub.ahead) if b.token == token), None)
        if at is None:
            continue
        for b in sub.ahead[at:]:
            host.reserved.pop(b.token, None)
            unhold(state, job, b)
        del sub.ahead[at:]


def unhold(state: State, job: JobRT, a: Attempt) -> None:
    item = job.work.get(a.work) if a.work is not None else None
    if item is not None and item.reserved == a.token:
        item.reserved = None
        erase_hold(state, job, item, a.token)
        if item.status == "pending":
            job.push_pending(item)
            state.work_available = True
            state.update_runnable(job)


def withdrawn(state: State, host: HostRT, token: str) -> None:
    host.cancel.append(token)
    state.wake_hosts.add(host.name)


def write_hold(state: State, job: JobRT, item: WorkRT, a: Attempt) -> None:
    """The hold goes into the item's row (still pending): its token, host and instance."""
    item.token, item.host, item.subid = a.token, a.host, a.subid
    state.touch_work(job, item)


def erase_hold(state: State, job: JobRT, item: WorkRT, token: str) -> None:
    if item.token == token and item.status == "pending":
        item.token = item.host = None
        state.touch_work(job, item)


# ------------------------------------------------------------------ after a restart or reload


def restore(state: State, job: JobRT, item: WorkRT) -> bool:
    """Loading: ``item`` is pending with a hold's token. If it was held behind the item its
    instance runs on that host, it is held so again (in agenda order until its worker says
    otherwise: :func:`hear`) and True; False if it is no hold of this kind."""
    sub = job.subs.get(item.subid) if item.subid is not None else None
    host = state.hosts.get(item.host or "")
    if sub is None or host is None or item.token is None:
        return False
    current = job.work.get(sub.work) if sub.work is not None else None
    if (
        sub.status != "running"
        or sub.host != host.name
        or host.state != "active"
        or current is None
        or current.status != "running"
        or current.token is None
    ):
        return False
    a = Attempt(item.token, host.name, job.id, sub.subid, item.name)
    a.delivered = state.now
    item.reserved = a.token
    host.reserved[a.token] = a
    sub.ahead.append(a)
    sub.ahead.sort(key=lambda b: _seq(job, b))
    host.unheard = True
    return True


def _seq(job: JobRT, a: Attempt) -> int:
    w = job.work.get(a.work) if a.work is not None else None
    return w.seq if w is not None else 0


def hear(state: State, host: HostRT, running: list[str], queued: list[str]) -> set[str]:
    """The worker's first pull since its holds were read back: what it runs and holds queued,
    in the order it runs them. The holds it lists are kept in that order; the others go back to
    pending (it never got them). Returns the tokens it listed."""
    host.unheard = False
    order = {t: i for i, t in enumerate([*running, *queued])}
    subs: dict[tuple[int, int], SubRT] = {}
    for a in list(host.reserved.values()):
        job = state.jobs.get(a.job_id)
        if job is None or state.held_jobs.get(a.job_id) is a:
            continue  # (a held job: ``nextjobs.hear``)
        sub = job.subs.get(a.subid)
        if sub is None or a not in sub.ahead:
            continue
        if a.token in order:
            subs[(job.id, sub.subid)] = sub
            continue
        sub.ahead.remove(a)
        host.reserved.pop(a.token, None)
        unhold(state, job, a)
        withdrawn(state, host, a.token)
    for sub in subs.values():
        sub.ahead.sort(key=lambda b: order.get(b.token, len(order)))
    return set(order)
