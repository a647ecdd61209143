"""Reservations and global resources: what a running instance takes (docs/dispatch-resources.md).

A job's ``reservations`` (``model.reservations``) say what each of its instances takes while
it runs: slots of its host (``host.processors``), memory of its host (``host.memory``, MB) and
counts of the supervisor's global resources (``global.maya``: licenses). Dispatch starts an
instance on a host only when all of it :func:`fits`; :func:`take` books it on the attempt when
it starts (``dispatch.start``), :func:`give` gives it back when the attempt ends, whatever the
way (``workers.drop``: reported, lost, killed, host down).

What is in use is never stored: it is the sum over the running attempts, booked again from the
store's running items when the state is loaded (a restart of the supervisor). So a counter
cannot drift from what runs: it is back to what runs after any crash, and it cannot go below
zero. It does not go above its total either, except when an admin lowers the total below what
runs (``resources set``): what runs keeps its licenses, nothing new starts until enough ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from triggerfish.engine.hostfacts import MB
from triggerfish.model.reservations import PLAIN, Reservation, reservation

if TYPE_CHECKING:
    from triggerfish.engine.objects import Attempt, HostRT, JobRT
    from triggerfish.engine.state import State


@dataclass(slots=True)
class GlobalResource:
    """A global counter (a license pool): ``total`` defined, ``used`` by running instances."""

    name: str
    total: int
    used: int = 0
    changed_by: str = ""
    changed_at: float = 0.0

    @property
    def available(self) -> int:
        return max(0, self.total - self.used)

    def row(self) -> dict[str, object]:
        return {
            "name": self.name, "total": self.total, "changed_by": self.changed_by,
            "changed_at": self.changed_at,
        }  # fmt: skip


def need(job: JobRT) -> Reservation:
    """What each instance of ``job`` takes (``PLAIN``, the very object, for one slot only)."""
    text = job.fields.get("reservations")
    return reservation(text) if text else PLAIN


def host_memory(host: HostRT) -> int:
    """The host's memory in MB as its worker reported it (0: unknown)."""
    value = (host.properties or {}).get("memory")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value) // MB)


def fits(state: State, job: JobRT, host: HostRT) -> bool:
    """Whether one more instance of ``job`` fits on ``host`` now: slots, memory, licenses."""
    free = host.free
    if free <= 0:
        return False
    r = need(job)
    return r is PLAIN or fits_reservation(state, r, host, free)


def fits_reservation(state: State, r: Reservation, host: HostRT, free: int) -> bool:
    if free < r.procs:
        return False
    if r.memory:
        total = host_memory(host)
        if total and host.mem_taken + r.memory > total:  # (unknown memory: not counted)
            return False
    for name, count in r.globals:
        g = state.resources.get(name)
        if g is None or g.used + count > g.total:
            return False
    return True


def short_of_globals(state: State, job: JobRT) -> bool:
    """Whether an instance of ``job`` cannot start now on any host for want of a global
    resource (or because one it asks for is not defined)."""
    r = need(job)
    for name, count in r.globals:
        g = state.resources.get(name)
        if g is None or g.used + count > g.total:
            return True
    return False


def could_fit(state: State, job: JobRT, host: HostRT) -> bool:
    """Whether an instance of ``job`` could run on ``host`` once a slot of it frees: its
    slots are enough and the licenses it asks for are free now (not its free slots: it is
    asked while the host is full, of a job that would take a slot when one frees)."""
    r = need(job)
    if r is PLAIN:
        return True
    return fits_reservation(state, r, host, host.slots)


def take(
    state: State, job: JobRT, host: HostRT | None, a: Attempt, *, loaded: bool = False
) -> None:
    """Book what ``a`` (started, in ``host.attempts`` already) takes. ``loaded``: read back
    from the store, where a greedy reservation took what it says at least."""
    r = need(job)
    if r is PLAIN:
        return
    if host is not None:
        a.procs = r.procs if loaded or not r.greedy else max(r.procs, host.free + 1)
        host.extra += a.procs - 1
        a.memory = r.memory
        host.mem_taken += r.memory
    got = []
    for name, count in r.globals:
        g = state.resources.get(name)
        if g is not None:  # (undefined after a restart: nothing to count against)
            g.used += count
            got.append((name, count))
    a.globals = tuple(got)


def give(state: State, host: HostRT | None, a: Attempt) -> None:
    """Give back what ``a`` took (``host``: None when the host no longer holds it)."""
    if host is not None:
        host.extra = max(0, host.extra - (a.procs - 1))
        host.mem_taken = max(0, host.mem_taken - a.memory)
    for name, count in a.globals:
        g = state.resources.get(name)
        if g is not None:
            g.used = max(0, g.used - count)
            state.work_available = True  # (a host waiting for work may get this license)
            state.licenses_freed()  # (the jobs that waited for one may fit now)
    a.procs, a.memory, a.globals = 1, 0, ()


def waits_for(state: State, job: JobRT) -> str:
    """Why a pending job with reservations gets no slot now ('' when nothing says so)."""
    r = need(job)
    if r is PLAIN:
        return ""
    for name, count in r.globals:
        g = state.resources.get(name)
        if g is None:
            return f"global resource {name!r} is not defined on the supervisor"
        if count > g.total:
            return f"reservations ask {count} of global.{name}, which has {g.total}"
    hosts = [h for h in state.hosts.values() if h.takes_work]
    if hosts and all(h.slots < r.procs for h in hosts):
        return f"no host has host.processors={r.procs} (reservations {r.text()})"
    if r.memory and hosts and all(0 < host_memory(h) < r.memory for h in hosts):
        return f"no host has host.memory={r.memory} MB (reservations {r.text()})"
    for name, count in r.globals:
        g = state.resources[name]
        if g.used + count > g.total:
            return f"waiting for global.{name} ({g.used} of {g.total} in use)"
    return ""
