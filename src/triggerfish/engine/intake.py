"""Tasks the server's intake accepted ahead of the engine: added in journal order, once each.

The server answers an accepted task as soon as its line is in the intake journal
(``store.journal``) and queues :func:`take` for it. The engine applies the lines strictly in
order: ``state.intake_seq`` is the last one applied, committed with the jobs it made. A line at
or below it was applied already (a catch-up took it); a gap before it (a batch that failed to
commit was thrown away, with the lines it held) is filled from the journal first. After a
restart, or a reload of the state, :func:`catch_up` adds whatever the journal holds past
``intake_seq``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from triggerfish.engine.state import State
from triggerfish.engine.submit import submit
from triggerfish.errors import TriggerfishError
from triggerfish.model.jobspec import NormalizedJob, parse_jobs
from triggerfish.model.text import check_json
from triggerfish.store.journal import Entry

logger = logging.getLogger(__name__)

# the journal's lines after a seq, in order (``Journal.entries_after``)
Source = Callable[[int], list[Entry]]


@dataclass(frozen=True)
class Accepted:
    """A line just written, with its job parsed already (the live path parses once)."""

    entry: Entry
    jobs: list[NormalizedJob]


def take(state: State, accepted: Accepted, source: Source) -> int:
    """Add one accepted task, after any line before it that is missing; the seq applied."""
    seq = accepted.entry.seq
    if seq <= state.intake_seq:
        return state.intake_seq  # a catch-up added it already
    if seq > state.intake_seq + 1:
        catch_up(state, source, upto=seq - 1)
    _add(state, accepted.entry, accepted.jobs)
    return seq


def take_many(state: State, accepted: list[Accepted], source: Source) -> int:
    """:func:`take` for each (tasks added in one call: one command, one commit)."""
    done = state.intake_seq
    for acc in accepted:
        done = take(state, acc, source)
    return done


def catch_up(state: State, source: Source, upto: int | None = None) -> int:
    """Add the journal's lines past ``state.intake_seq`` (up to ``upto``); the last seq applied."""
    for entry in source(state.intake_seq):
        if upto is not None and entry.seq > upto:
            break
        _take_entry(state, entry)
    return state.intake_seq


def add_entries(state: State, entries: list[Entry]) -> int:
    """Add these lines of the journal (those not applied yet), in order; the last seq applied.
    (The engine adds the lines of a command whose commit the store refused a few at a time,
    to find the one it cannot store: ``Engine._intake_alone``.)"""
    for entry in entries:
        _take_entry(state, entry)
    return state.intake_seq


def drop_entry(state: State, entry: Entry, exc: TriggerfishError) -> int:
    """Pass over a line the store refused even alone (its task is lost, said loudly), so that
    the lines after it are added: one bad line does not wedge the intake."""
    if entry.seq > state.intake_seq:
        _lost(state, entry, exc)
    return state.intake_seq


def lines_of(state: State, source: Source, fn: object, args: tuple[object, ...]) -> list[Entry]:
    """The journal's lines not applied yet that the command ``fn(state, *args)`` (one of
    :data:`COMMANDS`) adds."""
    upto: int | None = None
    if fn is take and isinstance(args[0], Accepted):
        upto = args[0].entry.seq
    elif fn is take_many and isinstance(args[0], list) and args[0]:
        upto = args[0][-1].entry.seq
    return [e for e in source(state.intake_seq) if upto is None or e.seq <= upto]


def _take_entry(state: State, entry: Entry) -> None:
    if entry.seq <= state.intake_seq:
        return
    if entry.seq != state.intake_seq + 1:
        logger.error(
            "intake journal: lines %d to %d are missing; the tasks they held are lost",
            state.intake_seq + 1, entry.seq - 1, extra={"action": "intake.gap"},
        )  # fmt: skip
    try:
        check_json(entry.job, "job")  # (a line written before such text was refused)
        jobs = parse_jobs([entry.job])
    except TriggerfishError as exc:
        _lost(state, entry, exc)
        return
    for nj in jobs:
        nj.spec.user = entry.user
    _add(state, entry, jobs)


def _add(state: State, entry: Entry, jobs: list[NormalizedJob]) -> None:
    if entry.job_id in state.jobs:  # (cannot happen: ids are taken once)
        _lost(state, entry, TriggerfishError(f"job {entry.job_id} exists already"))
        return
    state.ids.hold_through(entry.job_id + len(jobs) - 1)
    try:
        submit(state, jobs, entry.user, first=entry.job_id)
    except TriggerfishError as exc:  # refused before changing anything (submit checks first)
        _lost(state, entry, exc)
        return
    state.intake_seq = entry.seq
    state.counters_dirty = True


def _lost(state: State, entry: Entry, exc: TriggerfishError) -> None:
    """A line that cannot be added (a bug, a journal not written by this version, a value the
    store refuses): said loudly, and passed over so that the lines after it are not held up."""
    logger.error(
        "intake journal: task %d (line %d) cannot be added and is lost: %s",
        entry.job_id, entry.seq, exc.message,
        extra={"action": "intake.refused", "job": entry.job_id, "line": entry.seq},
    )  # fmt: skip
    state.intake_seq = entry.seq
    state.counters_dirty = True


# the commands that add lines of the journal
COMMANDS = (take, take_many, catch_up)
