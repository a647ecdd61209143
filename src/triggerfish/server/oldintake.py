"""The intake journal an older triggerfish left in the data dir: its tasks are added at start.

Before this version, a task added through the tasks API was answered once its line was written
to an intake journal (``<data dir>/intake-<hash of the database URL>-<the database's number>/``,
files ``*.log`` of JSON lines), before the engine committed it. A supervisor of that version
that was killed, or stopped while its engine was behind, leaves answered tasks there that the
database does not hold. Now every add is answered after its commit and there is no journal;
what one holds is added once, when the supervisor starts: before any other command (no request
is served, no timer fires before), with the job ids the callers were answered with, as the
engine's first batch (one commit). Then the directory is deleted.

Lines the database has already are not added again: those at or below the database's
``intake_seq`` counter (committed by the older version), and those whose job id is taken (added
by a start of this version that was killed before it could delete the directory).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from triggerfish.engine.state import State
from triggerfish.engine.submit import submit
from triggerfish.errors import StoreError, StoreRefused, TriggerfishError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.text import check_json
from triggerfish.store import tables as t
from triggerfish.store.db import translated
from triggerfish.store.store import Store

logger = logging.getLogger(__name__)

PREFIX = "intake-"


@dataclass(frozen=True)
class Entry:
    """One line: its place in the journal, the job id it was answered with, owner, job."""

    seq: int
    job_id: int
    user: str
    job: dict[str, Any]


@dataclass(frozen=True)
class Leftover:
    """A journal of this database and the lines of it to add (maybe none)."""

    directory: Path
    entries: list[Entry]


def journal_dir(data_dir: Path, database: str, epoch: int) -> Path:
    """Where the older version kept the journal of ``database`` (``epoch``: the number the
    database drew when it was made, its ``intake_epoch`` counter)."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:12]
    return data_dir / f"{PREFIX}{digest}-{epoch}"


def find(data_dir: Path, database: str, store: Store) -> Leftover | None:
    """The journal the older version kept for ``store`` (at URL ``database``) in
    ``data_dir``, with its lines not committed; None if there is none. Journals of other
    databases that hold lines are named in a warning and kept; empty ones are deleted."""
    epoch, done = _old_counters(store)
    mine = journal_dir(data_dir, database, epoch) if epoch is not None else None
    for d in sorted(data_dir.glob(PREFIX + "*")):
        if d == mine or not d.is_dir():
            continue
        if any(p.stat().st_size > 0 for p in d.glob("*.log")):
            logger.warning(
                "%s: an intake journal an older triggerfish kept for another database (or for "
                "this one under another URL); not added. Start this version once on that "
                "database, with this data dir, to add its tasks", d,
                extra={"action": "oldintake.foreign"},
            )  # fmt: skip
        else:
            shutil.rmtree(d, ignore_errors=True)
    if mine is None or not mine.is_dir():
        return None
    entries = [e for e in _read(mine) if e.seq > done]
    taken = _taken(store, [e.job_id for e in entries])
    return Leftover(mine, [e for e in entries if e.job_id not in taken])


def commands(leftover: Leftover) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """The engine commands that add its tasks (``Engine.start(*commands)``), in order."""
    return [(add, (e,)) for e in leftover.entries]


def add(state: State, entry: Entry) -> int:
    """Add one line's task with the job id it was answered with; that id."""
    state.ids.skip_through(entry.job_id)  # (answered: never handed out again, added or not)
    check_json(entry.job, "job")
    jobs = parse_jobs([entry.job])
    for nj in jobs:
        nj.spec.user = entry.user
    state.ids.skip_through(entry.job_id + len(jobs) - 1)
    submit(state, jobs, entry.user, first=entry.job_id)
    return entry.job_id


def finish(leftover: Leftover, outcomes: list[Future[Any]]) -> None:
    """After the engine's first batch: say what was added and what could not be, and delete
    the journal. A store that failed (rather than refused a task): StoreError, and the journal
    is kept for the next start."""
    lost = 0
    for entry, fut in zip(leftover.entries, outcomes, strict=True):
        exc = fut.exception()
        if exc is None:
            continue
        if isinstance(exc, StoreError) and not isinstance(exc, StoreRefused):
            raise StoreError(
                f"the tasks an older triggerfish left in {leftover.directory} could not be "
                f"added ({exc}); it is kept, and they are added at the next start"
            )
        lost += 1
        message = exc.message if isinstance(exc, TriggerfishError) else repr(exc)
        logger.error(
            "task %d of the intake journal (line %d) cannot be added and is lost: %s",
            entry.job_id, entry.seq, message,
            extra={"action": "oldintake.lost", "job": entry.job_id},
        )  # fmt: skip
    if leftover.entries:
        logger.warning(
            "%d tasks an older triggerfish answered before committing them were found in %s "
            "and added (%d lost); the journal is deleted", len(leftover.entries) - lost,
            leftover.directory, lost, extra={"action": "oldintake.added"},
        )  # fmt: skip
    shutil.rmtree(leftover.directory)


def _old_counters(store: Store) -> tuple[int | None, int]:
    """The database's ``intake_epoch`` (None: made by this version) and ``intake_seq``."""
    with translated(), store.engine.connect() as conn:
        q = sa.select(t.counters.c.name, t.counters.c.value).where(
            t.counters.c.name.in_(("intake_epoch", "intake_seq"))
        )
        rows = {r.name: int(r.value) for r in conn.execute(q)}
    return rows.get("intake_epoch"), rows.get("intake_seq", 0)


def _taken(store: Store, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    with translated(), store.engine.connect() as conn:
        q = sa.select(t.jobs.c.id).where(t.jobs.c.id.between(min(ids), max(ids)))
        return {int(i) for i in conn.execute(q).scalars()}


def _read(directory: Path) -> list[Entry]:
    """The journal's lines in order; a line cut short by a crash (never answered) or not one
    of ours is passed over."""
    out: list[Entry] = []
    for path in sorted(directory.glob("*.log")):
        lines = path.read_bytes().split(b"\n")
        lines.pop()  # after the last newline: nothing, or a line being written (not answered)
        for n, line in enumerate(lines):
            try:  # (json, not orjson: orjson reads an integer beyond 64 bits as a float)
                raw = json.loads(line)
                out.append(Entry(int(raw["seq"]), int(raw["id"]), str(raw["user"]),
                                 dict(raw["job"])))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                logger.warning("%s line %d is not an intake journal entry; passed over", path,
                               n + 1, extra={"action": "oldintake.line"})  # fmt: skip
    out.sort(key=lambda e: e.seq)
    return out
