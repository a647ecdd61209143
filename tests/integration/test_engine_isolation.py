"""One command whose values the store refuses fails alone: the others of its group commit are
committed (both stores, the real engine thread). A line of the intake journal that the store
refuses is passed over, so that the lines after it are committed: the intake never wedges."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from helpers_engine import Farm, job
from test_engine_intake import IntakeFarm, tasks

from triggerfish.engine import intake
from triggerfish.engine import submit as sub
from triggerfish.engine.loop import Engine
from triggerfish.errors import StoreRefused
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TaskRequest
from triggerfish.store import reads
from triggerfish.store.journal import Entry, Journal

pytestmark = pytest.mark.pg


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def held(eng: Engine, queue: Callable[[], list[Future[Any]]]) -> list[Future[Any]]:
    """Queue the commands ``queue`` makes while the engine thread is held inside a command of
    its own: they are taken together, as one batch and one commit."""
    entered, go = threading.Event(), threading.Event()

    def hold(_st: Any) -> None:
        entered.set()
        go.wait(30)

    first = eng.call(hold)
    assert entered.wait(30)
    futures = queue()
    go.set()
    first.result(30)
    return futures


def _unstorable() -> Any:
    """A job that passed validation but that no store can write (pid beyond any integer
    column), as a stand-in for any value the store refuses."""
    [nj] = parse_jobs([job("1", name="bad")])
    nj.spec.pid = 2**70
    return [nj]


def test_a_refused_command_fails_alone_and_its_batch_is_committed(
    farm: Farm, caplog: pytest.LogCaptureFixture
) -> None:
    assert farm.eng is not None
    eng = farm.eng

    def queue() -> list[Future[Any]]:
        out = [eng.call(sub.submit, parse_jobs([job("1", name=f"good {i}")]), "alice")
               for i in range(7)]  # fmt: skip
        out.insert(4, eng.call(sub.submit, _unstorable(), "alice"))
        return out

    with caplog.at_level(logging.WARNING, logger="triggerfish.engine.loop"):
        futures = held(eng, queue)
        bad = futures.pop(4)
        with pytest.raises(StoreRefused) as refused:
            bad.result(30)
        good = [f.result(30).jobs[0] for f in futures]
    assert "committed in parts" in caplog.text  # they were one batch, split
    assert refused.value.http_status == 422 and "SQL" not in refused.value.message
    stored = {j["id"]: j["name"] for j in reads.list_jobs(farm.db)}
    assert stored == {j.id: j.name for j in good}
    assert sorted(stored.values()) == [f"good {i}" for i in range(7)]
    seqs = [e["seq"] for e in reads.list_events(farm.db, after=0, limit=10_000)]
    assert seqs == list(range(1, len(seqs) + 1))  # no event of the refused one, no gap
    farm.register("h1", 1)
    assert farm.run_all("h1") == 7


def _task_entry(seq: int, job_id: int, name: str) -> Entry:
    body = TaskRequest(target="app.mod:fn", params=seq).job()
    return Entry(seq, job_id, "alice", {**body, "name": name})


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line whose task is named ``bad…`` passes the intake's checks but the store refuses
    it (as a value no check foresaw would): its pid becomes one no integer column holds."""
    real = intake.parse_jobs

    def parse(raw: Any) -> Any:
        jobs = real(raw)
        for nj in jobs:
            if nj.spec.name.startswith("bad"):
                nj.spec.pid = 2**70
        return jobs

    monkeypatch.setattr(intake, "parse_jobs", parse)


def test_a_refused_intake_line_is_passed_over_and_later_lines_commit(
    db_url: str, tmp_path: Path, unchecked: None, caplog: pytest.LogCaptureFixture
) -> None:
    jfarm = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    try:
        assert jfarm.eng is not None
        eng = jfarm.eng
        names = ["first", "bad", "third", "fourth"]
        entries = []
        for i, name in enumerate(names):
            entry = _task_entry(i + 1, eng.state.ids.take(1, held=True), name)
            jfarm.journal.append(entry)
            entries.append(entry)

        def queue() -> list[Future[Any]]:
            return [eng.call(intake.take, intake.Accepted(e, intake.parse_jobs([e.job])),
                             jfarm.journal.entries_after) for e in entries]  # fmt: skip

        with caplog.at_level(logging.ERROR, logger="triggerfish.engine.intake"):
            for fut in held(eng, queue):
                fut.result(30)
            jfarm.settle()
        assert [t[0] for t in tasks(jfarm)] == [entries[i].job_id for i in (0, 2, 3)]
        assert f"task {entries[1].job_id} (line 2) cannot be added and is lost" in caplog.text
        assert jfarm.store is not None and jfarm.store.counters()["intake_seq"] == 4
        jfarm.accept(5)  # and the intake goes on
        jfarm.settle()
        assert len(tasks(jfarm)) == 4
    finally:
        jfarm.stop()
        jfarm.journal.close()


def test_a_refused_line_found_at_start_does_not_wedge_the_intake(
    db_url: str, tmp_path: Path, unchecked: None
) -> None:
    """Lines a supervisor answered before it died, one of them refused by the store: the next
    start adds the others (across restarts, nothing waits for the bad line)."""
    journal = Journal(tmp_path / "intake")
    for i, name in enumerate(["one", "bad two", "three"]):
        journal.append(_task_entry(i + 1, i + 1, name))
    journal.close()
    jfarm = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    try:
        assert [t[0] for t in tasks(jfarm)] == [1, 3]
        assert jfarm.store is not None and jfarm.store.counters()["intake_seq"] == 3
        jfarm.restart()
        assert [t[0] for t in tasks(jfarm)] == [1, 3]
        assert jfarm.submit(job("1")).jobs[0].id == 4
    finally:
        jfarm.stop()
        jfarm.journal.close()


def test_bad_text_in_a_journal_line_is_refused_by_the_intake(db_url: str, tmp_path: Path) -> None:
    """A line written by a version that journaled such text: refused by the intake's check
    (logged, passed over) before the store sees it."""
    journal = Journal(tmp_path / "intake")
    for i, name in enumerate(["one", "two \x00"]):
        journal.append(_task_entry(i + 1, i + 1, name))
    journal.close()
    jfarm = IntakeFarm(db_url, Journal(tmp_path / "intake"))
    try:
        assert [t[0] for t in tasks(jfarm)] == [1]
        assert jfarm.store is not None and jfarm.store.counters()["intake_seq"] == 2
    finally:
        jfarm.stop()
        jfarm.journal.close()
