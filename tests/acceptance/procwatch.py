"""Waiting for a condition, and the states of a command's process group in /proc (suspend
and resume tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def group_states(pgid: int) -> set[str]:
    """The state letters (R, S, T, D, Z …) in /proc of the processes of group ``pgid``."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # (gone meanwhile)
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            out.add(fields[0])
    return out


def stopped(pgid: int) -> bool:
    """The command's process group is stopped: its processes are T (a shell waiting for a
    child stopped between vfork and exec shows D)."""
    states = group_states(pgid)
    return "T" in states and states <= {"T", "D"}
