"""The state machine of jobs, instances and work items: which status follows which, on what.

Pure: tables and functions of statuses, no I/O and nothing of the engine. The engine
(``engine.state``, ``engine.control``, ``engine.verbs``) does the moves; the rules are here:

- :data:`UNIT_MOVES`: what each :class:`Event` does to an instance or a work item (a *unit*);
  an event whose table has no entry for the unit's status does not apply to it.
- :func:`job_verb_unit` / :data:`JOB_VERB_STATUS`: what a verb on a whole job does to each of
  its units and to the job's own status.
- :func:`derive`: the status of a job that follows its work, from its tally.
- :func:`control_refusal` / :func:`dispatch_refusal`: why a verb is refused (409) for a target
  in its status; None when it is allowed. A verb allowed on a unit always has a move in
  :data:`UNIT_MOVES` (for work items, exactly where it has one; instances are narrower: one
  is blocked only while pending, running or retrying).

Once ended (:data:`TERMINAL`), a unit moves only by the verbs that reopen ended work:
``retry``, ``requeue`` and ``complete`` (of a failed or killed item), see :data:`REOPENING`;
and ``unblock`` of a held job without agenda starts its failed and killed instances anew
(docs/jobs.md: "``unblock`` and ``retry`` of a held or ended job start it anew").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Literal

from triggerfish.model.status import TERMINAL, Status

# short names for the tables below
_P, _B, _W, _R = Status.PENDING, Status.BLOCKED, Status.WAITING, Status.RUNNING
_C, _F, _K = Status.COMPLETE, Status.FAILED, Status.KILLED
_S, _RT = Status.SUSPENDED, Status.RETRYING

LIVE: frozenset[Status] = frozenset({_R, _S})  # holds an attempt on a host
NOT_STARTED: frozenset[Status] = frozenset({_P, _B, _W, _RT})
FAILED_OR_KILLED: frozenset[Status] = frozenset({_F, _K})
# a job in one of these is held there (by a person, a verb or its dependency): it does not
# follow its work (``derive`` leaves it) until a verb releases it
HELD_JOB: frozenset[Status] = frozenset({_B, _K, _S, _W})

# The event a status change emits (besides ``done`` for an end).
STATUS_EVENT: Mapping[str, str] = {
    _P: "pending", _B: "blocked", _W: "waiting", _R: "running", _C: "complete", _F: "failed",
    _K: "killed", _S: "suspended", _RT: "retry",
}  # fmt: skip

Kind = Literal["job", "instance", "work"]


class Event(StrEnum):
    """What happens to a unit (an instance or a work item)."""

    START = "start"  # dispatched to a host
    REPORT_COMPLETE = "report-complete"  # the worker reports success
    REPORT_FAILED = "report-failed"  # failed, no retry left
    REPORT_RETRY = "report-retry"  # failed with a retry left (or a lost attempt: counted)
    RETRY_DUE = "retry-due"  # its retry delay passed
    TAKE_BACK = "take-back"  # lost host, interrupt, migrate, preempt: pending again
    KILL = "kill"
    BLOCK = "block"
    UNBLOCK = "unblock"
    RETRY = "retry"  # the verb
    REQUEUE = "requeue"
    SUSPEND = "suspend"
    RESUME = "resume"
    COMPLETE = "complete"  # qb.completework: complete without running
    RETIRE = "retire"  # what has not started completes; suspended work resumes to finish


def _from(statuses: Collection[Status], to: Status) -> dict[str, Status]:
    return dict.fromkeys(statuses, to)


_UNENDED = frozenset(Status) - TERMINAL

UNIT_MOVES: Mapping[Event, Mapping[str, Status]] = {
    Event.START: {_P: _R},
    Event.REPORT_COMPLETE: _from(LIVE, _C),
    Event.REPORT_FAILED: _from(LIVE, _F),
    Event.REPORT_RETRY: _from(LIVE, _RT),
    Event.RETRY_DUE: {_RT: _P},
    Event.TAKE_BACK: _from(LIVE, _P),
    Event.KILL: _from(_UNENDED, _K),
    Event.BLOCK: _from(_UNENDED - {_B}, _B),
    Event.UNBLOCK: {_B: _P},
    Event.RETRY: _from(TERMINAL, _P),
    Event.REQUEUE: _from(TERMINAL, _B),
    Event.SUSPEND: {_R: _S},
    Event.RESUME: {_S: _R},
    Event.COMPLETE: _from(frozenset(Status) - {_C}, _C),
    Event.RETIRE: {**_from(NOT_STARTED, _C), _S: _R},
}

# The events that may move a unit out of an end (docs/jobs.md "Control",
# docs/dispatch-verbs.md "complete").
REOPENING: frozenset[Event] = frozenset({Event.RETRY, Event.REQUEUE, Event.COMPLETE})


def unit_next(status: str, event: Event) -> Status | None:
    """The status a unit in ``status`` moves to on ``event``; None: the event does not apply."""
    return UNIT_MOVES[event].get(status)


# ---------------------------------------------------------------- verbs on a whole job

# What a verb on a job does to each of its units (the job's status decides for ``retry``).
_JOB_VERB_UNITS: Mapping[str, Mapping[str, Status]] = {
    "kill": _from(_UNENDED, _K),
    "block": _from(LIVE, _P),
    "retry": _from(FAILED_OR_KILLED, _P),
    "requeue": _from(TERMINAL, _P),
    "suspend": {_R: _S},
    "resume": {_S: _R},
    "interrupt": _from(LIVE, _P),
    "migrate": _from(LIVE, _P),
    "retire": UNIT_MOVES[Event.RETIRE],
    "unblock": {},  # (but see :func:`released`: a job without agenda)
}

# The job's own status after a verb; a verb not named here lets the job follow its work
# (:func:`derive`) — ``unblock`` and ``retry`` release a held or ended job first.
JOB_VERB_STATUS: Mapping[str, Status] = {"kill": _K, "block": _B, "requeue": _B, "suspend": _S}


def job_verb_unit(
    verb: str, job_status: str, unit_status: str, *, agenda: bool = True
) -> Status | None:
    """What ``verb`` on a job in ``job_status`` does to one of its units; None: nothing.
    ``agenda``: the units are work items (else instances of a job without agenda)."""
    if verb == "retry" and job_status == _C and unit_status == _C:
        return _P  # a complete job retried: all of it runs again
    if verb == "unblock":
        return released(unit_status, agenda=agenda)
    return _JOB_VERB_UNITS[verb].get(unit_status)


def released(unit_status: str, *, agenda: bool) -> Status | None:
    """What releasing a held or ended job (``unblock``; a ``retry`` or ``requeue`` of it or of
    its units while it has ended) does to one of its units: the failed and killed instances of
    a job without agenda start anew (docs/jobs.md, Statuses: "``unblock`` and ``retry`` of a
    held or ended job start it anew"); work items keep their status."""
    return _P if not agenda and unit_status in FAILED_OR_KILLED else None


# ---------------------------------------------------------------- the job follows its work


def derive(
    tally: Mapping[str, int], status: str, *, taken_back: bool, may_release: Callable[[], bool]
) -> Status:
    """The status of a job whose status is ``status`` and whose units are counted in
    ``tally`` (``status`` itself when the job is held: :data:`HELD_JOB`).

    Running while any unit runs; while units are left that have not ended, a job that has
    started stays ``running`` when that work will run without a person (pending, waiting or
    retrying units, or blocked ones that ``may_release()`` — a callback of the job may release
    them) and nothing of it was taken back (``taken_back``: lost, blocked, requeued), else it
    is ``pending`` (docs/jobs.md, Statuses). Once all have ended: ``failed`` if any failed,
    else ``killed`` if any was killed, else ``complete``."""
    if status in HELD_JOB:
        return Status(status)
    if tally[_R]:
        return _R
    if tally[_P] or tally[_RT] or tally[_B] or tally[_W] or tally[_S]:
        keep = status == _R and not taken_back
        return _R if keep and _work_left(tally, may_release) else _P
    if tally[_F]:
        return _F
    if tally[_K]:
        return _K
    return _C


def _work_left(tally: Mapping[str, int], may_release: Callable[[], bool]) -> bool:
    if tally[_P] or tally[_RT] or tally[_W]:
        return True
    return bool(tally[_B]) and may_release()


# ---------------------------------------------------------------- 409 rules


def control_refusal(
    verb: str, kind: Kind, status: str, *, agenda: bool = False, ended_units: bool = False
) -> str | None:
    """Why ``verb`` (kill, block, unblock, retry, requeue, remove, modify, preempt) is refused
    for a target of ``kind`` in ``status``; None when it is allowed. ``agenda``: the job has
    work items (its instances follow them); ``ended_units``: some of the job's units failed
    or were killed (a job that has not ended may still be retried or requeued then)."""
    if kind == "work":
        return _work_refusal(verb, status)
    if kind == "instance":
        return _instance_refusal(verb, status, agenda)
    return _job_refusal(verb, status, ended_units)


def _work_refusal(verb: str, st: str) -> str | None:
    ended = st in TERMINAL
    return {
        "kill": "it has already ended" if ended else None,
        "block": "it has already ended" if ended or st == _B else None,
        "unblock": None if st == _B else f"it is {st}, not blocked",
        "retry": None if ended else f"it is {st}; only ended work can be retried",
        "requeue": None if ended else f"it is {st}; only ended work can be requeued",
        "remove": "work items cannot be removed; remove the job",
        "modify": "work items cannot be modified",
        "preempt": None if st == _R else f"it is {st}, not running",
    }[verb]


def _instance_refusal(verb: str, st: str, agenda: bool) -> str | None:
    if agenda and verb in ("retry", "requeue"):
        return (
            "instances of a job with an agenda follow its work; retry or requeue the job or its "
            "items"
        )
    ended = st in TERMINAL
    return {
        "kill": "it has already ended" if ended else None,
        "block": None if st in (_P, _R, _RT) else f"it is {st}",
        "unblock": None if st == _B else f"it is {st}, not blocked",
        "retry": None if ended else f"it is {st}; only ended instances can be retried",
        "requeue": None if ended else f"it is {st}",
        "remove": "instances cannot be removed; modify the job's cpus",
        "modify": "instances cannot be modified; modify the job",
        "preempt": None if st == _R else f"it is {st}, not running",
    }[verb]


def _job_refusal(verb: str, st: str, ended_units: bool) -> str | None:
    ended = st in TERMINAL
    return {
        "kill": f"it has already ended ({st})" if ended else None,
        "block": None if st in (_P, _R, _W, _S) else f"it is {st}",
        "unblock": None if st == _B else f"it is {st}, not blocked",
        "retry": None if ended or ended_units else f"it is {st} and has no failed or killed work",
        "requeue": None if ended or ended_units else f"it is {st} and has no ended work",
        "remove": None,
        "modify": None,
        "preempt": None if st == _R else f"it is {st}, not running",
    }[verb]


def dispatch_refusal(
    verb: str, kind: Kind, status: str, units: Collection[str], job_status: str
) -> str | None:
    """Why a dispatch verb (suspend, resume, interrupt, migrate, complete, retire, shove) is
    refused for a target of ``kind`` in ``status``, whose units (items, or instances of a job
    without agenda) are in ``units``, of a job in ``job_status``; None when it is allowed."""
    if verb in ("retire", "shove") and kind != "job":
        return f"{verb} acts on jobs only"
    if verb == "complete" and kind == "instance":
        return "complete acts on jobs (retire) and work items, not instances"
    if verb == "complete" and kind == "work":  # a failed or killed item too
        return "it is complete already" if status == _C else None
    if status in TERMINAL:
        return f"it has already ended ({status})"
    if verb == "suspend":
        return None if _R in units else f"it is {status}; nothing of it is running"
    if verb == "resume":
        # (a suspended job whose worker died holds pending work only: resume releases it)
        return None if _S in units or status == _S else f"it is {status}, not suspended"
    if verb in ("interrupt", "migrate"):
        live = any(u in LIVE for u in units)
        return None if live else f"it is {status}; nothing of it is running"
    if verb == "shove":
        dispatchable = job_status in (_P, _R) and _P in units
        return None if dispatchable else f"it is {status} and has no pending work to dispatch"
    return None  # complete, retire: anything not ended
