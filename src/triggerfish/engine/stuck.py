"""Jobs that can no longer finish by themselves, and why (the ``stuck`` field of the job view).

A job is *stuck* when it waits only for things that will not happen without a person:

- it is ``blocked`` and every callback of its own that could release it (``unblock-self``, the
  ``dependency`` field's) waits for an upstream that failed or was killed (under
  ``dependency_failure: wait``), that does not exist, that is itself stuck, or for a label
  no job of the pgrp has;
- or nothing of it is pending, running or waiting for a retry, and each of its blocked items
  waits (``unblock-work-self``) for such an upstream item.

Work held by hand (a job or item blocked with no callback to release it) is not stuck: a
person is expected to release it. A callback in another language than ``qube`` (python code
calling ``qb.unblockwork``) may release anything: a job with one is never called stuck. The
answer is computed from the engine's state when it is asked (``reasons``), so it is never
stale: retrying the failed upstream makes the job un-stuck at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from triggerfish.model.status import TERMINAL
from triggerfish.store import tables as t
from triggerfish.triggers.ast import Atom

if TYPE_CHECKING:
    from triggerfish.engine.callbacks import CallbackRT
    from triggerfish.engine.objects import JobRT
    from triggerfish.engine.state import State

MAX_ID = 2**31 - 1
ENDS = frozenset({"complete", "failed", "killed", "done"})
SHOWN_ITEMS = 3  # items named in the reason of a job with many stuck items


def job_status(state: State, job_id: int) -> str | None:
    """The status of a job, in memory or stored; None when it does not exist."""
    job = state.jobs.get(job_id)
    if job is not None:
        return job.status
    if not 1 <= job_id <= MAX_ID:
        return None
    found = state.store.scalar(sa.select(t.jobs.c.status).where(t.jobs.c.id == job_id))
    return None if found is None else str(found)


def work_status(state: State, job_id: int, name: str) -> str | None:
    """The status of item ``job_id:name``; None when there is no such item (or job)."""
    job = state.jobs.get(job_id)
    if job is not None:
        w = job.work.get(name)
        return None if w is None else w.status
    if not 1 <= job_id <= MAX_ID:
        return None
    stmt = sa.select(t.work.c.status).where(t.work.c.job_id == job_id, t.work.c.name == name)
    found = state.store.scalar(stmt)
    return None if found is None else str(found)


def reasons(state: State, ids: Iterable[int]) -> dict[int, str]:
    """``{job id: why it cannot finish}`` for those of ``ids`` that are stuck."""
    look = _Look(state)
    out: dict[int, str] = {}
    for job_id in ids:
        why = look.job(job_id)
        if why:
            out[job_id] = why
    return out


class _Look:
    """One question's memo (a job asked twice, or a chain of blocked jobs, is looked at once)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.memo: dict[int, str | None] = {}
        self.statuses: dict[int, str | None] = {}  # upstreams looked up (many share one)

    def status(self, job_id: int) -> str | None:
        if job_id not in self.statuses:
            self.statuses[job_id] = job_status(self.state, job_id)
        return self.statuses[job_id]

    def job(self, job_id: int) -> str | None:
        if job_id in self.memo:
            return self.memo[job_id]
        self.memo[job_id] = None  # a circle of jobs waiting on each other: not claimed
        job = self.state.jobs.get(job_id)
        why = None if job is None else self._job(job)
        self.memo[job_id] = why
        return why

    def _job(self, job: JobRT) -> str | None:
        if job.status in TERMINAL:
            return None
        mine = [cb for cb in self.state.cbs.of_job(job.id) if _live(cb)]
        if any(cb.language not in ("qube", "mail") for cb in mine):
            return None  # code that may release anything
        if job.status == "blocked":
            return self._all_impossible(
                [cb for cb in mine if "unblock-self" in cb.actions], None, ""
            )
        t = job.tally
        if t["blocked"] and not (t["pending"] or t["running"] or t["retrying"] or t["waiting"]):
            return self._items(job, [cb for cb in mine if "unblock-work-self" in cb.actions])
        return None

    def _items(self, job: JobRT, releasers: list[CallbackRT]) -> str | None:
        if not releasers or any(cb.compiled.variable is None for cb in releasers):
            return None  # held by hand, or released by a callback we cannot follow per item
        stuck: list[tuple[str, str]] = []
        for w in job.work.values():
            if w.status != "blocked":
                continue
            why = self._all_impossible(releasers, w.name, f"item {w.name} ")
            if why is None:
                return None  # this one may still be released: the job goes on
            stuck.append((w.name, why))
        if not stuck:
            return None
        shown = "; ".join(why for _, why in stuck[:SHOWN_ITEMS])
        more = len(stuck) - SHOWN_ITEMS
        return shown + (f"; and {more} more blocked items" if more > 0 else "")

    def _all_impossible(
        self, releasers: list[CallbackRT], value: str | None, prefix: str
    ) -> str | None:
        """None when one of ``releasers`` may still fire (for ``value`` of its variable);
        else why none can."""
        if not releasers:
            return None
        whys: list[str] = []
        for cb in releasers:
            why = self._impossible(cb, value)
            if why is None:
                return None
            whys.append(why)
        return prefix + "; ".join(dict.fromkeys(whys))

    def _impossible(self, cb: CallbackRT, value: str | None) -> str | None:
        latched = set(cb.latches.latched)
        if value is not None:
            latched |= cb.latches.pending.get(value, frozenset())
        mask, whys = 0, []
        for no in range(len(cb.compiled.atoms)):
            why = None if no in latched else self._atom(cb, no, value)
            if why is None:
                mask |= 1 << no
            else:
                whys.append(why)
        return None if cb.latches.program.holds(mask) else "; ".join(whys)

    def _atom(self, cb: CallbackRT, no: int, value: str | None) -> str | None:
        """Why atom ``no`` of ``cb`` will not happen by itself; None when it may."""
        atom = cb.compiled.atoms[no]
        if not isinstance(atom, Atom) or atom.name not in ENDS:
            return None  # time atoms come; other events (running, signals) we cannot tell
        key = cb.compiled.keys[no]
        shown = str(atom) if value is None else str(atom).replace(f"${atom.variable}", value)
        if key is None:
            return f"waits for {shown}: no job of pgrp {cb.pgrp} has the label {atom.context!r}"
        upstream = key[2]
        if upstream is None or atom.type not in ("job", "work"):
            return None
        status = self.status(upstream)
        if status is None:
            return f"waits for {shown}: job {upstream} does not exist"
        if atom.type == "job":
            return self._upstream(shown, f"job {upstream}", atom.name, status, upstream)
        item = value if atom.variable is not None else atom.extra
        if item is None or item == "*":
            return None
        status = work_status(self.state, upstream, item) or ""
        if not status:
            return f"waits for {shown}: job {upstream} has no item {item!r}"
        return self._upstream(shown, f"{upstream}:{item}", atom.name, status, upstream)

    def _upstream(self, shown: str, what: str, end: str, status: str, upstream: int) -> str | None:
        if status in TERMINAL:
            if end in ("done", status):
                return None  # it happened (latched by catch-up), or may again by a retry
            return f"waits for {shown}: {what} {status}"
        inner = self.job(upstream)
        return None if inner is None else f"waits for {shown}: job {upstream} cannot finish"


def _live(cb: CallbackRT) -> bool:
    """A callback of the job's own that may still fire (the site's universal ones aside)."""
    return not cb.latches.exhausted and cb.source != "universal"
