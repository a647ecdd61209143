"""A job's ``reservations`` (Qube's field): what each of its instances takes while it runs.

A comma list of ``resource=quantity``::

    host.processors=2, host.memory=4000, global.maya=1

``host.processors=N`` takes N of the host's slots (default 1); ``host.processors=N+`` takes
every slot free when the instance starts, at least N (Qube's "reserve the whole host":
``host.processors=1+``). ``host.memory=MB`` takes that much of the host's memory (MB, as
``host.memory`` in requirements): the sum of what the instances running on a host reserve
never exceeds its memory. ``global.NAME=N`` takes N of the supervisor's global resource NAME
(a license counter: ``triggerfish supervisor --resource maya=5``).

Pure: parsing does no I/O; results are cached by their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_TEXT = 10_000
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")
KNOWN = "host.processors, host.memory, global.NAME"


class ReservationsError(ValueError):
    """Text that is not a reservation list; ``column`` is 1-based."""

    def __init__(self, problem: str, column: int) -> None:
        super().__init__(f"{problem} at column {column}")
        self.problem = problem
        self.column = column


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one instance takes: ``procs`` slots (all free ones, at least ``procs``, when
    ``greedy``), ``memory`` MB of its host, and ``globals`` ``((name, count), ...)``."""

    procs: int = 1
    greedy: bool = False
    memory: int = 0
    globals: tuple[tuple[str, int], ...] = ()

    @property
    def plain(self) -> bool:
        """One slot and nothing else: what a job without reservations takes."""
        return self == PLAIN

    def text(self) -> str:
        """The reservation in Qube's syntax (for messages)."""
        parts = [f"host.processors={self.procs}{'+' if self.greedy else ''}"]
        if self.memory:
            parts.append(f"host.memory={self.memory}")
        parts.extend(f"global.{n}={c}" for n, c in self.globals)
        return ",".join(parts)


PLAIN = Reservation()


def _count(value: str, key: str, column: int, least: int) -> int:
    if not value.isdigit():
        raise ReservationsError(f"{key} needs a whole number, not {value!r}", column)
    n = int(value)
    if n < least or n > 10**9:
        raise ReservationsError(f"{key}={n} is out of range ({least} to 10^9)", column)
    return n


@lru_cache(maxsize=4096)
def parse(text: str) -> Reservation:
    """The reservation ``text`` says; ReservationsError naming the column of a problem."""
    if len(text) > MAX_TEXT:
        raise ReservationsError(f"longer than {MAX_TEXT} characters", 1)
    procs, greedy, memory = 1, False, 0
    globals_: dict[str, int] = {}
    seen: set[str] = set()
    for m in re.finditer(r"[^,]+|(?<=,)(?=,|$)|^(?=,)", text):
        item, column = m.group(), m.start() + 1
        if not item.strip():
            if text.strip():
                raise ReservationsError("an empty item", column)
            continue
        column += len(item) - len(item.lstrip())
        key, eq, value = (x.strip() for x in item.partition("="))
        if not eq or not value:
            raise ReservationsError(f"{key!r} needs '=quantity'", column)
        if key in seen:
            raise ReservationsError(f"{key} is given twice", column)
        seen.add(key)
        if key == "host.processors":
            greedy = value.endswith("+")
            procs = _count(value.removesuffix("+"), key, column, 1)
        elif key == "host.memory":
            memory = _count(value, key, column, 0)
        elif key.startswith("global.") and NAME.fullmatch(key[7:]):
            globals_[key[7:]] = _count(value, key, column, 1)
        else:
            raise ReservationsError(f"unknown resource {key!r} (known: {KNOWN})", column)
    out = Reservation(procs, greedy, memory, tuple(sorted(globals_.items())))
    return PLAIN if out == PLAIN else out  # (``is PLAIN`` is the fast test of dispatch)


def reservation(text: str | None) -> Reservation:
    """The reservation of a stored ``reservations`` field (empty or unreadable: one slot)."""
    if not text:
        return PLAIN
    try:
        return parse(text)
    except ReservationsError:  # (stored by another version)
        return PLAIN
