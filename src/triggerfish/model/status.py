"""Statuses of jobs, instances (subjobs), work items and hosts, in Qube's vocabulary."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    BLOCKED = "blocked"
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    KILLED = "killed"
    SUSPENDED = "suspended"
    RETRYING = "retrying"  # work and subjobs only: a failed attempt waiting for its retry


class HostState(StrEnum):
    ACTIVE = "active"
    DOWN = "down"
    DISABLED = "disabled"


JOB_STATUSES: frozenset[str] = frozenset(s.value for s in Status if s is not Status.RETRYING)
WORK_STATUSES: frozenset[str] = frozenset(s.value for s in Status)
TERMINAL: frozenset[Status] = frozenset({Status.COMPLETE, Status.FAILED, Status.KILLED})
ACTIVE: frozenset[str] = frozenset({"pending", "running", "blocked", "waiting", "suspended"})
INITIAL_JOB_STATUSES: frozenset[str] = frozenset({"pending", "blocked"})
INITIAL_WORK_STATUSES: frozenset[str] = frozenset({"pending", "blocked", "complete"})

# Keys of a tally (Qube's todotally / cpustally), in display order.
TALLY_KEYS: tuple[str, ...] = (
    "pending",
    "blocked",
    "waiting",
    "running",
    "retrying",
    "complete",
    "failed",
    "killed",
    "suspended",
)


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def empty_tally() -> dict[str, int]:
    return dict.fromkeys(TALLY_KEYS, 0)


# Which status a set of units (instances, work items) shows as one, in Qube's
# ``subjobstatus`` / ``agendastatus``: the first of these any unit has.
_AGGREGATE_ORDER = (
    "running", "suspended", "waiting", "retrying", "pending", "blocked", "failed", "killed",
    "complete",
)  # fmt: skip


def aggregate(tally: dict[str, int]) -> str:
    """One status for the units counted in ``tally``: ``running`` while any runs, then
    ``suspended``, ``waiting``, ``pending`` (a ``retrying`` one waits to run again),
    ``blocked``; when all have ended, ``failed`` if any failed, else ``killed`` if any was
    killed, else ``complete``. ``""`` when there are none."""
    for st in _AGGREGATE_ORDER:
        if tally.get(st):
            return "pending" if st == "retrying" else st
    return ""


def tally_of(statuses: list[str]) -> dict[str, int]:
    """A tally (TALLY_KEYS) of the statuses of some units."""
    out = empty_tally()
    for st in statuses:
        out[st] = out.get(st, 0) + 1
    return out


def attempts(retries: int, status: str, timestart: float | None) -> int:
    """Qube's ``count`` of an instance or item: the attempts made — the retries counted, and
    the one running now or that ended it (an ended one that never started made none)."""
    started = status in ("running", "suspended") or (status in TERMINAL and timestart is not None)
    return retries + (1 if started else 0)
