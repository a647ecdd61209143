"""Tasks accepted ahead of the engine (the intake journal): added in order, with the ids they
were answered with, once each; again after a failed commit, and after a restart."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import intake
from triggerfish.engine.loop import Engine
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TaskRequest
from triggerfish.store import reads
from triggerfish.store.journal import Entry, Journal
from triggerfish.store.store import Store

pytestmark = pytest.mark.pg


class IntakeFarm(Farm):
    """The engine started as the supervisor starts it: the journal's lines after the store's
    ``intake_seq`` are added before anything else."""

    def __init__(self, url: str, journal: Journal) -> None:
        self.journal = journal
        super().__init__(url)

    def start(self) -> None:
        self.store = Store(self.url)
        self.eng = Engine(self.store)
        self.eng.intake_source = self.journal.entries_after
        self.eng.state.ids.hold_through(self.journal.max_job_id)
        self.eng.start()

    def accept(self, n: int, **task: Any) -> Entry:
        """What ``server.intake.Intake.accept`` does: an id, a line, the engine command."""
        assert self.eng is not None
        body = TaskRequest(target="app.mod:fn", params=n, **task).job()
        jobs = parse_jobs([body])
        job_id = self.eng.state.ids.take(1, held=True)
        entry = Entry(self.journal.last_seq + 1, job_id, "alice", body)
        self.journal.append(entry)
        self.eng.call(intake.take, intake.Accepted(entry, jobs), self.journal.entries_after)
        return entry

    def settle(self) -> None:
        """Until the engine has applied every line (its queue is processed in order)."""
        self.run(lambda st: None)


@pytest.fixture
def jfarm(db_url: str, tmp_path: Path) -> Iterator[IntakeFarm]:
    f = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    yield f
    f.stop()
    f.journal.close()


def tasks(farm: Farm) -> list[tuple[int, Any]]:
    """(job id, params) of every job, by id."""
    out = []
    for j in sorted(reads.list_jobs(farm.db, limit=1000), key=lambda j: int(j["id"])):
        row = reads.get_job(farm.db, j["id"], agenda=False)
        assert row is not None
        out.append((row["id"], row["package"].get("params")))
    return out


def write(journal: Journal, *params: Any, first_id: int = 1) -> None:
    """Lines written by a supervisor that died before its engine committed them."""
    for i, p in enumerate(params):
        body = {"prototype": "task", "name": "t", "package": {"target": "app.mod:fn", "params": p}}
        journal.append(Entry(journal.last_seq + 1, first_id + i, "bob", body))


def test_accepted_tasks_are_added_in_order_with_their_ids(jfarm: IntakeFarm) -> None:
    entries = [jfarm.accept(n) for n in (10, 11, 12)]
    jfarm.settle()
    assert tasks(jfarm) == [(e.job_id, n) for e, n in zip(entries, (10, 11, 12), strict=True)]
    row = reads.get_job(jfarm.db, entries[0].job_id)
    assert row is not None and (row["user"], row["prototype"], row["status"]) == (
        "alice", "task", "pending",
    )  # fmt: skip
    assert jfarm.store is not None and jfarm.store.counters()["intake_seq"] == 3
    assert jfarm.submit(job("1")).jobs[0].id == entries[-1].job_id + 1
    jfarm.restart()  # nothing is added twice
    assert len(tasks(jfarm)) == 4


def test_a_restart_adds_what_was_not_committed_once(db_url: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "intake")
    write(journal, "a", "b", "c")
    journal.close()
    farm = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    try:
        assert tasks(farm) == [(1, "a"), (2, "b"), (3, "c")]
        assert reads.get_job(farm.db, 2)["user"] == "bob"  # type: ignore[index]
        farm.restart()
        assert tasks(farm) == [(1, "a"), (2, "b"), (3, "c")]
        assert farm.submit(job("1")).jobs[0].id == 4
    finally:
        farm.stop()
        farm.journal.close()


def test_a_held_task_is_blocked_until_its_time(jfarm: IntakeFarm) -> None:
    e = jfarm.accept(1, at=time.time() + 3600)
    jfarm.settle()
    row = reads.get_job(jfarm.db, e.job_id)
    assert row is not None and row["status"] == "blocked"


def test_a_gap_is_filled_from_the_journal_first(jfarm: IntakeFarm) -> None:
    """A command for line 3 when the engine has applied none: lines 1 and 2 (thrown away with
    a batch that failed) are added before it, in order."""
    write(jfarm.journal, "a", "b", "c", first_id=50)
    [*_, third] = jfarm.journal.entries_after(0)
    assert jfarm.eng is not None
    jfarm.eng.state.ids.hold_through(52)
    done = jfarm.run(intake.take, intake.Accepted(third, parse_jobs([third.job])),
                     jfarm.journal.entries_after)  # fmt: skip
    assert done == 3
    assert tasks(jfarm) == [(50, "a"), (51, "b"), (52, "c")]
    # the command for line 2 comes after: it was applied already
    [_, second, _] = jfarm.journal.entries_after(0)
    assert jfarm.run(intake.take, intake.Accepted(second, []), jfarm.journal.entries_after) == 3
    assert len(tasks(jfarm)) == 3


def test_a_failed_commit_adds_the_task_again_from_the_journal(jfarm: IntakeFarm) -> None:
    """The batch holding an accepted task fails to commit: the state is reloaded, and the
    engine adds the task again from its line, with the id it was answered with (at once: the
    store refused a value, so the engine adds the command's lines alone)."""
    assert jfarm.eng is not None
    body = TaskRequest(target="app.mod:fn", params=7).job()
    entry = Entry(1, jfarm.eng.state.ids.take(1, held=True), "alice", body)
    jfarm.journal.append(entry)
    [nj] = parse_jobs([body])
    nj.spec.pid = 2**70  # what is parsed cannot be stored (its line can): the commit fails
    assert jfarm.run(intake.take, intake.Accepted(entry, [nj]), jfarm.journal.entries_after) == 1
    jfarm.settle()  # the catch-up the reload queued
    assert tasks(jfarm) == [(entry.job_id, 7)]
    assert jfarm.store is not None and jfarm.store.counters()["intake_seq"] == 1
    assert jfarm.submit(job("1")).jobs[0].id == entry.job_id + 1


def test_a_line_that_cannot_be_added_is_passed_over(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path / "intake")
    bad = {"prototype": "task", "package": {"params": 1}}  # no target
    journal.append(Entry(1, 1, "bob", bad))
    write(journal, "ok", first_id=2)
    journal.close()
    with caplog.at_level(logging.ERROR, logger="triggerfish.engine.intake"):
        farm = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    try:
        assert tasks(farm) == [(2, "ok")]
        assert "task 1 (line 1) cannot be added" in caplog.text
        assert farm.store is not None and farm.store.counters()["intake_seq"] == 2
    finally:
        farm.stop()
        farm.journal.close()


def test_catch_ups_that_commit_nothing_come_later_and_later(db_url: str, tmp_path: Path) -> None:
    """Reloads (after failed commits) each queue the journal's catch-up; while the one before
    was not committed (a store refusing commits), the next waits 0.5 s, then 1 s…: no loop of
    failed commits at full speed. One committed: the next comes at once again."""
    journal = Journal(tmp_path / "intake")
    store = Store(db_url)
    eng = Engine(store)  # not started: this test is its thread
    eng.intake_source = journal.entries_after
    try:
        eng.state.load()

        def queued() -> list[Any]:
            out = []
            while not eng._queue.empty():
                out.append(eng._queue.get_nowait())
            return out

        eng._reload()
        [first] = queued()  # at once
        assert first is not None and first[0] is intake.catch_up
        eng._reload()  # the first was not committed (it is still in our hands)
        assert queued() == []
        time.sleep(0.8)
        assert [q[0] for q in queued()] == [intake.catch_up]  # after 0.5 s
        eng._reload()
        time.sleep(0.6)
        assert queued() == []  # 1 s now
        time.sleep(0.6)
        [third] = queued()
        eng._apply([third])  # committed (nothing to add): the next one is at once
        eng._reload()
        assert [q[0] for q in queued()] == [intake.catch_up]
    finally:
        store.close()
        journal.close()
