"""The intake journal an older triggerfish left in the data dir: at start, its tasks that the
database does not hold are added once, with the ids they were answered with, as the engine's
first batch; then the journal is deleted (real store, real engine, both stores)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from triggerfish.engine.loop import Engine
from triggerfish.model.tasks import TaskRequest
from triggerfish.server import oldintake
from triggerfish.store import reads
from triggerfish.store import tables as t
from triggerfish.store.store import Store

EPOCH = 4242


def old_database(store: Store, intake_seq: int) -> None:
    """The counter rows an older triggerfish kept in the database it made."""
    with store.engine.begin() as conn:
        conn.execute(sa.insert(t.counters), [
            {"name": "intake_epoch", "value": EPOCH}, {"name": "intake_seq", "value": intake_seq},
        ])  # fmt: skip


def line(seq: int, job_id: int, params: Any, name: str = "t") -> bytes:
    job = {**TaskRequest(target="app.mod:fn", params=params).job(), "name": name}
    return json.dumps({"seq": seq, "id": job_id, "user": "bob", "job": job}).encode() + b"\n"


def write_journal(data_dir: Path, url: str, *lines: bytes, tail: bytes = b"") -> Path:
    """A journal as the older version wrote it; ``tail``: a line it was writing when killed."""
    d = oldintake.journal_dir(data_dir, url, EPOCH)
    d.mkdir(parents=True)
    (d / "000000000000001.log").write_bytes(b"".join(lines) + tail)
    return d


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def start(data_dir: Path, store: Store, *, finish: bool = True) -> Engine:
    """What the supervisor does at start (``server.app._start_engine``)."""
    eng = Engine(store)
    leftover = oldintake.find(data_dir, store.url, store)
    outcomes = eng.start(*(oldintake.commands(leftover) if leftover else []))
    if leftover is not None and finish:
        oldintake.finish(leftover, outcomes)
    return eng


def stored(store: Store) -> dict[int, tuple[Any, str]]:
    out = {}
    for j in reads.list_jobs(store.engine, limit=1000):
        row = reads.get_job(store.engine, j["id"], agenda=False)
        assert row is not None
        out[row["id"]] = (row["package"].get("params"), row["user"])
    return out


def test_tasks_not_committed_are_added_with_their_ids_and_the_journal_goes(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Line 1 was committed by the older version (intake_seq 1); line 3 holds text no store
    takes (refused, logged, passed over); a line cut short by the kill was never answered."""
    old_database(store, intake_seq=1)
    d = write_journal(
        tmp_path, store.url,
        line(1, 7, "committed"), line(2, 8, {"n": 2**70}), line(3, 9, "bad \x00"),
        line(4, 11, "four"), tail=b'{"seq": 5, "id": 12, "us',
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="triggerfish.server.oldintake"):
        eng = start(tmp_path, store)
    try:
        assert stored(store) == {8: ({"n": 2**70}, "bob"), 11: ("four", "bob")}
        assert "task 9 of the intake journal (line 3) cannot be added and is lost" in caplog.text
        assert "2 tasks an older triggerfish answered" in caplog.text
        assert not d.exists()
        from helpers_engine import job  # (the next id comes after the journal's)

        from triggerfish.engine import submit as sub
        from triggerfish.model.jobspec import parse_jobs

        answer = eng.call(sub.submit, parse_jobs([job("1")]), "alice").result(30)
        assert answer.jobs[0].id == 12  # (after the journal's ids, the lost one's too)
    finally:
        eng.stop()
    assert oldintake.find(tmp_path, store.url, store) is None  # nothing left to add


def test_a_start_killed_before_deleting_the_journal_adds_nothing_twice(
    store: Store, tmp_path: Path
) -> None:
    old_database(store, intake_seq=0)
    write_journal(tmp_path, store.url, line(1, 1, "a"), line(2, 2, "b"))
    start(tmp_path, store, finish=False).stop()  # committed; killed before the delete
    leftover = oldintake.find(tmp_path, store.url, store)
    assert leftover is not None and leftover.entries == []  # (their ids are taken)
    start(tmp_path, store).stop()
    assert stored(store) == {1: ("a", "bob"), 2: ("b", "bob")}
    assert not leftover.directory.exists()


def test_a_value_the_store_refuses_fails_alone(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line whose task the store refuses (a pid no integer column holds, as a stand-in for a
    value no check foresaw): the other lines of the batch are committed."""
    real = oldintake.parse_jobs

    def parse(raw: Any) -> Any:
        jobs = real(raw)
        for nj in jobs:
            if nj.spec.name == "bad":
                nj.spec.pid = 2**70
        return jobs

    monkeypatch.setattr(oldintake, "parse_jobs", parse)
    old_database(store, intake_seq=0)
    write_journal(tmp_path, store.url, line(1, 1, 1), line(2, 2, 2, "bad"), line(3, 3, 3))
    start(tmp_path, store).stop()
    assert sorted(stored(store)) == [1, 3]


def test_journals_of_other_databases_are_kept_and_named(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database made by this version has no journal; another database's journal that holds
    lines is named in a warning and kept, an empty one is deleted."""
    other = write_journal(tmp_path, "sqlite:////elsewhere.db", line(1, 1, "x"))
    empty = tmp_path / "intake-0123456789ab-77"
    empty.mkdir()
    (empty / "000000000000001.log").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="triggerfish.server.oldintake"):
        start(tmp_path, store).stop()
    assert stored(store) == {}
    assert other.exists() and not empty.exists()
    assert f"{other}: an intake journal an older triggerfish kept for another" in caplog.text
