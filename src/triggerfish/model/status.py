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
TERMINAL: frozenset[str] = frozenset({"complete", "failed", "killed"})
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
