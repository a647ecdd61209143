"""The intake: a task added through the tasks API is answered once it is journaled.

Adding a task one call at a time, as an application does, waited for the engine's commit of
that one task: the supervisor's thread ran the engine's batch and the commit between one add
and the next, for every add. Now :meth:`Intake.accept` takes the task's job id, writes its line
to the intake journal (``store.journal``: one ``write``, what a SQLite commit with
``synchronous=NORMAL`` is also worth) and queues it for the engine's thread, which adds the
tasks in journal order, many to a commit (``engine.intake``); the answer goes at once.

What a caller may do next sees the task: every request other than the fast lane's (an add, a
worker's report or pull) first waits (:meth:`Intake.caught_up`) until the engine has committed
the tasks accepted before it, so that a read, a kill or a wait finds the job.

Past :data:`BACKLOG` tasks accepted and not yet committed, an add is answered after its commit
again, as before (the engine is behind: the caller waits for it instead of the journal growing).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

from triggerfish.engine import intake
from triggerfish.engine.loop import Engine, Wakeup
from triggerfish.model.jobspec import NormalizedJob
from triggerfish.store.journal import Entry, Journal

logger = logging.getLogger(__name__)

BACKLOG = 20_000  # tasks accepted and not committed; past it, an add waits for its commit
CATCH_UP_WAIT = 30.0  # seconds a request waits for the tasks accepted before it, at most


def journal_dir(data_dir: Path, database: str, epoch: int) -> Path:
    """The journal of ``database`` (its lines hold job ids of that database only): named by
    its URL and by the number the database drew when it was made (``Store.epoch``), so that a
    database made again at the same URL does not take the lines of the one before."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:12]
    return data_dir / f"intake-{digest}-{epoch}"


def _drop_stale(data_dir: Path, current: Path) -> None:
    """Journals of earlier databases at the same URL: theirs, not this one's."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    for old in data_dir.glob(prefix + "*"):
        if old == current or not old.is_dir():
            continue
        lines = sum(p.stat().st_size > 0 for p in old.glob("*.log"))
        if lines:
            logger.warning(
                "intake journal %s belongs to an earlier database at this URL; deleted", old,
                extra={"action": "intake.stale"},
            )  # fmt: skip
        shutil.rmtree(old, ignore_errors=True)


def in_memory(database: str) -> bool:
    """An SQLite database in memory: gone with the process, so no journal for it either."""
    return database.startswith("sqlite") and (
        database.rstrip("/") in ("sqlite:", "sqlite+pysqlite:") or ":memory:" in database
    )


def status_of(jobs: list[NormalizedJob]) -> str:
    """The status the engine gives the job when it adds it (``submit._create``)."""
    nj = jobs[0]
    return "blocked" if nj.spec.status == "blocked" or nj.blocked_by_dependency else "pending"


class Intake:
    """Open the journal before :meth:`Engine.start` (which adds what it holds); then
    :meth:`started`, on the server's loop."""

    def __init__(self, journal: Journal, engine: Engine) -> None:
        self.journal = journal
        self.engine = engine
        engine.intake_source = journal.entries_after
        engine.state.ids.hold_through(journal.max_job_id)  # answered ids stay theirs
        self.written = 0
        self.committed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._closed = False

    def started(self, loop: asyncio.AbstractEventLoop) -> None:
        """The engine has started (and added what the journal held): accept from now on."""
        done = self.engine.state.intake_seq
        self.journal.resume_after(done)
        self.journal.forget_through(done)
        self.written = self.journal.last_seq
        self.committed = done
        self.engine.listen_on(loop, self.on_commit)

    def accept(self, jobs: list[NormalizedJob], job: dict[str, Any], user: str) -> int | None:
        """Journal one task (``jobs``: its job, parsed from ``job``) and queue it; its job id.
        None: not now (too many accepted and not committed, or the journal cannot be
        written); the caller adds it the usual way."""
        ids = self.accept_many([(jobs, job)], user)
        return None if ids is None else ids[0]

    def accept_many(
        self, tasks: list[tuple[list[NormalizedJob], dict[str, Any]]], user: str
    ) -> list[int] | None:
        """:meth:`accept` for several tasks, all or none: one write, one engine command."""
        if self._closed or self.written - self.committed + len(tasks) > BACKLOG:
            return None
        first = self.engine.state.ids.take(len(tasks), held=True)
        entries: list[Entry] = []
        accepted: list[intake.Accepted] = []
        for i, (jobs, job) in enumerate(tasks):
            entry = Entry(self.written + 1 + i, first + i, user, job)
            entries.append(entry)
            accepted.append(intake.Accepted(entry, jobs))
        try:
            self.journal.append_many(entries)
        except OSError as exc:
            logger.warning("intake journal: cannot write (%s); tasks wait for their commit",
                           exc, extra={"action": "intake.journal"})  # fmt: skip
            return None
        self.written = entries[-1].seq
        if len(accepted) == 1:
            self.engine.post(intake.take, accepted[0], self.journal.entries_after)
        else:
            self.engine.post(intake.take_many, accepted, self.journal.entries_after)
        return [e.job_id for e in entries]

    def on_commit(self, wake: Wakeup) -> None:
        """After each commit, on the loop: callers waiting for what it added go on."""
        n = wake.intake_seq
        if n <= self.committed:
            return
        self.committed = n
        if self._waiters:
            waiting = []
            for target, fut in self._waiters:
                if target <= n:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    waiting.append((target, fut))
            self._waiters = waiting
        self.journal.forget_through(n)

    def behind(self) -> bool:
        return self.committed < self.written

    async def caught_up(self) -> None:
        """Return once the engine has committed every task accepted so far (at most
        :data:`CATCH_UP_WAIT` seconds: a request is not held for ever by a store in trouble)."""
        target = self.written
        if self.committed >= target or self._closed:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        try:
            async with asyncio.timeout(CATCH_UP_WAIT):
                await fut
        except TimeoutError:
            logger.warning("tasks accepted %.0f s ago are not committed yet", CATCH_UP_WAIT,
                           extra={"action": "intake.behind"})  # fmt: skip

    def close(self) -> None:
        """The server stops (after the engine): nobody waits any more; what the engine did
        not commit stays journaled for the next start, and a journal all committed goes."""
        self._closed = True
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters = []
        self.journal.close(committed=self.engine.state.intake_seq)


def open_intake(data_dir: Path, database: str, engine: Engine) -> Intake:
    """The intake of the store ``engine`` writes to (before ``engine.start``)."""
    directory = journal_dir(data_dir, database, engine.store.epoch())
    _drop_stale(data_dir, directory)
    return Intake(Journal(directory), engine)
