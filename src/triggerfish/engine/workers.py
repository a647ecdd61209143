"""The worker side of the engine: register, pull (heartbeat), report, lost attempts, timers."""

from __future__ import annotations

import heapq
import logging
import secrets
from typing import Any

from triggerfish.api import schemas as s
from triggerfish.engine import ahead, ended, flights, hostcheck, nextjobs, reserve
from triggerfish.engine import verbhooks as verbs
from triggerfish.engine.dispatch import dispatch as dispatch  # (parking calls it here too)
from triggerfish.engine.dispatch import start, start_next
from triggerfish.engine.objects import Attempt, HostRT, JobRT, WorkRT
from triggerfish.engine.state import State
from triggerfish.errors import TriggerfishError

logger = logging.getLogger(__name__)


FINISHED_MEMORY = 10_000  # reported tokens remembered per host
UNSEEN_AFTER = 15.0  # seconds an attempt may stay unlisted after it was handed out
# seconds a worker whose long poll's connection broke has to call in again before its host is
# taken for gone (engine.hosts): a reconnect takes far less, a dead worker never does
LOST_GRACE = 1.5


class SessionGone(TriggerfishError):
    """The host is unknown or its session was replaced: the worker must register again."""

    code = "session_gone"
    http_status = 410


def register(state: State, req: s.RegisterRequest) -> s.RegisterResponse:
    host = state.hosts.get(req.name)
    now = state.now
    if host is None:
        host = HostRT(
            req.name, "active", req.slots, req.properties, req.groups, req.cluster, None, now, now
        )
        state.hosts[req.name] = host
        state.new_hosts.add(req.name)
    else:
        for a in list(host.attempts.values()):
            lose(state, a, "the worker registered again")
        host.unheard = False  # (a new session: it holds nothing of the old one)
        ahead.drop_host(state, host)
        nextjobs.drop_host(state, host)
        host.slots = req.slots
        host.properties = req.properties
        host.groups = req.groups
        host.cluster = req.cluster
        host.registered = now
        state.touch_host(host)
    host.jobtypes = frozenset(req.jobtypes)
    host.session = secrets.token_hex(12)
    host.last_seen = now
    host.memory_avail = req.memory_avail
    host.check_at = 0.0
    hostcheck.heard(state, host, req.check if req.check is not None else "", now)
    if host.state != "active":
        host.state = "active"
    state.emit("up", "host", host=host.name, data={"slots": host.slots})
    state.work_available = True
    heartbeat = max(0.5, min(10.0, state.host_timeout / 3))
    return s.RegisterResponse(
        host=host.name, session=host.session, heartbeat=heartbeat, host_timeout=state.host_timeout
    )


def _host(state: State, name: str, session: str) -> HostRT:
    host = state.hosts.get(name)
    if host is None or host.session != session:
        raise SessionGone(f"host {name!r} has no session {session!r}; register again")
    return host


def _assignment(state: State, a: Attempt, after: str | None = None) -> s.Assignment:
    job = state.jobs[a.job_id]
    f = job.fields
    start = end = None
    if a.work is not None:
        from triggerfish.model.agenda import frame_bounds

        b = frame_bounds(a.work, job.step)
        if b is not None:
            start, end, _ = b
    env = f.get("env") or {}
    procs = a.procs if a.procs != 1 else reserve.need(job).procs  # (held ahead: not booked)
    if procs != 1:  # (reservations host.processors=N: the command may use N threads)
        env = {**env, "TRIGGERFISH_PROCESSORS": str(procs)}
    # built without validation: every value comes from the engine's own, checked, state
    return s.Assignment.model_construct(
        token=a.token, job=job.id, subid=a.subid, work=a.work, pgrp=job.pgrp, name=job.name,
        prototype=job.prototype, package=job.package, env=env, cwd=f.get("cwd"),
        work_package=_work_package(job, a.work),
        frame_start=start, frame_end=end, frame_step=job.step if start is not None else None,
        after=after, watched=after is None and ahead.watched(state, job.id, a.work),
        api_token=_job_token(state, job), flights=flights.assignment_flights(job),
        flight=a.flight,
    )  # fmt: skip


def _work_package(job: JobRT, name: str | None) -> dict[str, Any]:
    """The item's own package (``{}`` when it has none)."""
    if job.packages is None or name is None:
        return {}
    return job.packages.get(name) or {}


def _job_token(state: State, job: JobRT) -> str | None:
    """The job's token (see auth.jobtokens), made once per job: owner and id never change."""
    if job.api_token is None and state.job_keys is not None:
        job.api_token = state.job_keys.token(job.id, job.user)
    return job.api_token


def pull(
    state: State, name: str, req: s.PullRequest, arrived: float | None = None
) -> s.PullResponse:
    """Deliver the host's undelivered attempts and new work; confirm, cancel or lose the rest.

    ``arrived`` is when the request reached the supervisor (a long poll runs this again later
    with the same ``running`` list, which is only as new as the request).
    """
    arrived = state.now if arrived is None else arrived
    host = _host(state, name, req.session)
    if host.unheard:
        _hear(state, host, req, arrived)
    host.last_seen = state.now
    host.lost = None  # (a pull it sends after its connection broke: it lives)
    host.ahead = req.ahead
    if req.memory_avail is not None:
        host.memory_avail = req.memory_avail
    hostcheck.heard(state, host, req.check, arrived)
    if host.state == "down":
        host.state = "active"
        state.touch_host(host)
        state.emit("up", "host", host=host.name)
    if host.adopt:
        _adopt(state, host, req.running)
    listed = set(req.running)
    # tokens the worker still lists (runs, or holds queued) but that are no longer its to run
    # (a report of the worker's own that crossed this long poll is no reason to cancel
    # anything; a lookahead attempt it started is claimed when the report of the one before
    # it arrives)
    cancel = [
        t
        for t in (*req.running, *req.queued)
        if t not in host.attempts and t not in host.finished and t not in host.reserved
    ]
    cancel.extend(t for t in host.cancel if t not in cancel)
    host.cancel.clear()
    deliver: list[Attempt] = []
    for a in list(host.attempts.values()):
        if a.token in listed:
            a.confirmed = True
        elif a.confirmed:
            lose(state, a, "the worker no longer runs it")
        elif a.delivered is None:
            deliver.append(a)
        elif a.delivered < arrived - UNSEEN_AFTER:
            # handed out long before this pull was sent, yet the worker never listed it:
            # the answer carrying it was lost. A new attempt (new token) replaces it.
            lose(state, a, "the worker never received it")
    stop, cont = verbs.take_signals(host)
    return s.PullResponse(
        assignments=_deliver(state, host, deliver), cancel=cancel, suspend=stop, resume=cont
    )


def _hear(state: State, host: HostRT, req: s.PullRequest, arrived: float) -> None:
    """The first pull since the host's holds were read back from the store: the worker's word
    on what it runs and holds (``ahead.hear``). A pull sent before that reload says nothing
    of what was handed out since: it is answered 503, the worker pulls again."""
    if arrived < state.loaded_at:
        raise ahead.Unheard("the supervisor reloaded its state: pull again")
    listed = ahead.hear(state, host, req.running, req.queued)
    nextjobs.hear(state, host, listed)


def _deliver(state: State, host: HostRT, deliver: list[Attempt]) -> list[s.Assignment]:
    """``deliver`` plus new work for the host's free slots, marked as handed out now."""
    deliver.extend(dispatch(state, host))
    for a in deliver:
        a.delivered = state.now
    out = [_assignment(state, a) for a in deliver]
    if host.outbox:
        out.extend(_assignment(state, a, after) for a, after in host.outbox)
        host.outbox.clear()
    return out


def drop(state: State, a: Attempt, *, reported: bool = False) -> None:
    """Forget an attempt (its token becomes stale).

    Unless the worker itself reported it, the host's long poll is woken to tell the worker to
    cancel it (and to fill the slot it frees).
    """
    taken = state.attempts.pop(a.token, None)
    host = state.hosts.get(a.host)
    held = host.attempts.pop(a.token, None) if host is not None else None
    if held is not None or taken is not None:  # what it took goes back (engine.reserve)
        reserve.give(state, host if held is not None else None, held or taken or a)
    if host is None or held is None:
        return
    if host.chains:
        nextjobs.drop_chain(state, host, a.token)
    if reported:
        host.finished[a.token] = None
        if len(host.finished) > FINISHED_MEMORY:
            del host.finished[next(iter(host.finished))]
    else:
        state.wake_hosts.add(host.name)


def lose(state: State, a: Attempt, why: str) -> None:
    """An attempt that will never report: its work goes back to pending, the attempt counted
    (its ``retry`` goes up, with a ``retry`` event, then ``pending``)."""
    drop(state, a)
    job = state.jobs.get(a.job_id)
    if job is None:
        return
    sub = job.subs.get(a.subid)
    if sub is not None and sub.ahead:
        ahead.drop_sub(state, job, sub)
    lost = {"reason": why, "lost": True}
    if a.work is not None:
        w = job.work.get(a.work)
        if w is not None and w.token == a.token and w.status in ("running", "suspended"):
            # the attempt counts, as a failed one does: `retry`, then pending again
            w.retry += 1
            w.token = None
            state.set_work(job, w, "retrying", data=lost)
            state.set_work(job, w, "pending", data=lost)
            state.taken_back.add(job.id)  # not a retry of its own: pending if nothing runs
    elif sub is not None and sub.token == a.token and sub.status in ("running", "suspended"):
        sub.retry += 1
        sub.token = None
        state.set_sub(job, sub, "retrying", data=lost)
        state.set_sub(job, sub, "pending", data=lost)
        state.taken_back.add(job.id)
    live = ("running", "suspended")
    if sub is not None and sub.status in live and (a.work is None or sub.work == a.work):
        sub.work = None
        state.set_sub(job, sub, "pending", quiet=a.work is None)
    logger.info(
        "attempt lost",
        extra={
            "action": "attempt.lost",
            "job": a.job_id,
            "item": a.work,
            "instance": a.subid,
            "host": a.host,
            "attempt": a.token,
            "why": why,
        },
    )
    state.derive(job)


def report(state: State, name: str, req: s.ReportRequest) -> s.ReportResponse:
    """Record finished attempts; the answer carries the host's next work (one round trip)."""
    host = _host(state, name, req.session)
    if host.unheard:  # its holds were read back: the order of its queue comes with its pull
        raise ahead.Unheard(f"host {name!r}: the supervisor waits for its pull; retry after it")
    host.last_seen = state.now
    host.lost = None
    host.ahead = req.ahead
    hostcheck.heard(state, host, req.check, state.now)
    out = s.ReportResponse()
    if req.release:
        rest = [t for t in req.release if not _released_job(state, host, t)]
        ahead.release(state, host, rest)
    if host.adopt:
        _adopt(state, host, [r.token for r in req.reports])
    want = 0  # jobs to hold behind what this host runs next (engine.nextjobs)
    whose: dict[str, tuple[int, int]] = {}  # ended tokens: their job and instance
    for r in req.reports:
        a = host.attempts.get(r.token)
        if a is None:
            out.ignored.append(r.token)
            continue
        out.accepted.append(r.token)
        chain = host.chains.pop(a.token, None)  # jobs held behind it: the next one starts
        drop(state, a, reported=True)
        job = state.jobs.get(a.job_id)
        if job is not None:
            _finish(state, host, job, a, r, follow=bool(chain))
        if r.status == "complete":
            want = max(want, ahead.wanted(host, r.seconds))
        if chain:
            nxt = _claim_job(state, host, chain)
            if nxt is not None:
                nextjobs.hold(state, host, nxt, want)
        ended.note(state, host, a, out.ended, whose)
    fresh = [a for a in host.attempts.values() if a.delivered is None]
    out.assignments = _deliver(state, host, fresh)
    ended.went_on(out.ended, whose, out.assignments)
    if want:
        # what was just handed out (no job held behind it yet) gets the next jobs behind it
        for asg in out.assignments:
            nxt = host.attempts.get(asg.token) if asg.after is None else None
            if nxt is not None and nxt.token not in host.chains and _alone(state, nxt):
                nextjobs.hold(state, host, nxt, want)
        out.assignments.extend(_assignment(state, a, after) for a, after in host.outbox)
        host.outbox.clear()
    if host.cancel:
        out.cancel = list(host.cancel)
        host.cancel.clear()
    out.suspend, out.resume = verbs.take_signals(host)
    return out


def _adopt(state: State, host: HostRT, tokens: list[str]) -> None:
    """Jobs held for this host before a restart that it reports or lists: it runs them (they
    start now, under their tokens); those it has said nothing of for too long go back."""
    for token in tokens:
        got = nextjobs.adopt(state, host, token)
        if got is not None:
            held, job, sub, item = got
            start(state, host, job, sub, item, held)
    nextjobs.expire(state, host)


def _released_job(state: State, host: HostRT, token: str) -> bool:
    a = host.reserved.get(token)
    return a is not None and nextjobs.release(state, host, a)


def _claim_job(state: State, host: HostRT, chain: list[Attempt]) -> Attempt | None:
    """Start the first valid job held behind an attempt that ended (the worker has started it
    already); what was held behind it stays held behind it."""
    got = nextjobs.claim(state, host, chain)
    if got is None:
        return None
    held, job, sub, item, rest = got
    a = start(state, host, job, sub, item, held)
    nextjobs.rekey(host, a.token, rest)
    return a


def _alone(state: State, a: Attempt) -> bool:
    """Whether nothing of its own job can follow ``a`` on its slot (no item held behind it,
    none pending): only then may other jobs be held behind it."""
    job = state.jobs.get(a.job_id)
    if job is None or a.work is None:
        return False
    sub = job.subs.get(a.subid)
    if sub is None or sub.ahead or job.has_pending():
        return False
    return not flights.has_postflights(job)  # (they run on this slot after it: engine.flights)


def _result(r: s.Report) -> dict[str, Any]:
    res = dict(r.result)
    if r.error:
        res.setdefault("error", r.error)
    return res


def failed_attempt(state: State, job: JobRT, w: WorkRT, data: dict[str, Any] | None) -> None:
    """An attempt of ``w`` failed: ``retrying`` while ``retrywork`` allows (after
    ``retrywork_delay``), else ``failed``."""
    if w.retry >= int(job.fields.get("retrywork", 0)):
        state.set_work(job, w, "failed", data=data)
        return
    w.retry += 1
    delay = float(job.fields.get("retrywork_delay", 0.0))
    if delay > 0:
        w.retry_at = state.now + delay
        heapq.heappush(state.retry_heap, (w.retry_at, job.id, w.name, None))
    state.set_work(job, w, "retrying", data=data)
    if delay <= 0:
        state.set_work(job, w, "pending", quiet=True)


def _finish(
    state: State, host: HostRT, job: JobRT, a: Attempt, r: s.Report, *, follow: bool = False
) -> None:
    """Record the end of ``a``; its instance goes on with the job's next item unless other
    jobs were held behind it (``follow``: the worker runs those next)."""
    sub = job.subs.get(a.subid)
    if r.preflight is not None:  # the command did not run: elsewhere, not counted
        flights.refused(state, host, job, a, r.preflight)
        state.derive(job)
        return
    if r.status == "complete" and flights.hold(state, host, job, sub, a):
        return  # the item runs on: its instance's postflights, on this slot
    if r.status == "failed" and a.flight is not None:
        flights.postflight_failed(state, host, job, a, r)
    data: dict[str, Any] | None = {"exit_code": r.exit_code} if r.exit_code is not None else None
    if r.error:
        data = {**(data or {}), "error": r.error}
    if a.work is not None:
        w = job.work[a.work]
        w.exit_code = r.exit_code
        w.result = _result(r) or None
        w.token = None
        if r.status == "complete":
            state.set_work(job, w, "complete", data=data)
        else:
            failed_attempt(state, job, w, data)
        if sub is not None:
            sub.work = None
            nxt = None if follow else start_next(state, host, job, sub)
            if nxt is not None:
                want = ahead.wanted(host, r.seconds) if r.status == "complete" else 0
                if want or sub.ahead:
                    ahead.top_up(state, host, job, sub, want)
            else:
                sub.token = None
                state.set_sub(job, sub, "pending", quiet=True)
                if sub.subid >= job.cpus:
                    del job.subs[sub.subid]
                    state.dirty_subs.pop((job.id, sub.subid), None)
                    state.ch.sub_deletes.append((job.id, sub.subid))
    elif sub is not None:
        sub.exit_code = r.exit_code
        sub.token = None
        sub_retries = int(job.fields.get("retrysubjob", 0))
        if r.status == "complete":
            state.set_sub(job, sub, "complete", data=data)
        elif sub.retry < sub_retries:
            sub.retry += 1
            state.set_sub(job, sub, "retrying", data=data)
            state.set_sub(job, sub, "pending", quiet=True)
        else:
            state.set_sub(job, sub, "failed", data=data)
    state.derive(job)


def check_hosts(state: State, timeout: float) -> None:
    """Mark hosts down: silent past ``timeout``, or gone (their long poll's connection broke
    and they did not call in again within ``LOST_GRACE``); their running work goes back to
    pending. A host down that still holds attempts (it signed off, or was down when the
    supervisor started, and never finished them) loses them once silent past ``timeout``."""
    limit = state.now - timeout
    for host in list(state.hosts.values()):
        silent = (host.last_seen or 0) < limit
        if host.state == "active" and silent:
            host_down(state, host, "silent", silent_for=timeout)
        elif _gone(state, host):
            host_down(state, host, "gone", reason="its worker's connection closed")
        elif host.state == "down" and silent and host.attempts:
            host_down(state, host, "silent", silent_for=timeout)


def _gone(state: State, host: HostRT) -> bool:
    lost = host.lost
    if lost is None:
        return False
    if host.state != "active" or lost[0] != host.session:
        host.lost = None  # (it registered again, or is down already)
        return False
    return state.now - lost[1] >= LOST_GRACE


def host_down(state: State, host: HostRT, why: str, **data: Any) -> None:
    """``host`` is down: its running attempts are lost (each counted, with a ``retry``
    event), what it holds ahead and the jobs held for it go back to pending."""
    host.lost = None
    if host.state != "down":
        host.state = "down"
        state.touch_host(host)
        state.emit("down", "host", host=host.name, data={"why": why, **data})
    for a in list(host.attempts.values()):
        lose(state, a, f"host {host.name} is down ({why})")
    ahead.drop_host(state, host)
    nextjobs.drop_host(state, host)


def fire_retries(state: State) -> None:
    """Items (or instances) whose retry delay has passed become pending again."""
    while state.retry_heap and state.retry_heap[0][0] <= state.now:
        due, job_id, name, subid = heapq.heappop(state.retry_heap)
        job = state.jobs.get(job_id)
        if job is None:
            continue
        if name is not None:
            w = job.work.get(name)
            if w is not None and w.status == "retrying":
                w.retry_at = None
                state.set_work(job, w, "pending", quiet=True)
                state.meters.timer_fired("retry", state.now - due)
        elif subid is not None:
            sub = job.subs.get(subid)
            if sub is not None and sub.status == "retrying":
                sub.retry_at = None
                state.set_sub(job, sub, "pending", quiet=True)
                state.meters.timer_fired("retry", state.now - due)
        state.derive(job)


def next_timer(state: State) -> float | None:
    return state.retry_heap[0][0] if state.retry_heap else None
