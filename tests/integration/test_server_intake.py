"""The server's intake on a real store, journal and engine: the backlog bound, the wait of a
request for the tasks accepted before it, what a stop leaves."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from triggerfish.engine.loop import Engine
from triggerfish.model.jobspec import parse_jobs
from triggerfish.model.tasks import TaskRequest
from triggerfish.server import intake as server_intake
from triggerfish.server.intake import Intake, in_memory, journal_dir, open_intake
from triggerfish.store import reads
from triggerfish.store.store import Store


def accept(it: Intake, n: int) -> int | None:
    body = TaskRequest(target="app.mod:fn", params=n).job()
    jobs = parse_jobs([body])
    return it.accept(jobs, body, "alice")


def test_tasks_are_committed_and_their_journal_goes(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        engine = Engine(store)
        it = open_intake(tmp_path, store.url, engine)
        engine.start()
        it.started(asyncio.get_running_loop())
        ids = [accept(it, n) for n in range(5)]
        assert ids == [1, 2, 3, 4, 5]
        await it.caught_up()  # the engine's commit has been seen on this loop
        assert not it.behind()
        assert sorted(j["id"] for j in reads.list_jobs(store.engine)) == [1, 2, 3, 4, 5]
        await asyncio.to_thread(engine.stop)
        it.close()
        store.close()
        directory = journal_dir(tmp_path, store.url, Store(store.url).epoch())
        assert list(directory.glob("*.log")) == []  # all committed: nothing kept

    asyncio.run(main())


def test_past_the_backlog_an_add_waits_for_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine is not running (its queue grows): two tasks are accepted, the third is
    not (the caller adds it the usual way), and a request waiting for them gives up after
    CATCH_UP_WAIT with a warning; a stop lets waiting requests go and keeps the lines."""
    monkeypatch.setattr(server_intake, "BACKLOG", 2)
    monkeypatch.setattr(server_intake, "CATCH_UP_WAIT", 0.2)

    async def main() -> None:
        store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
        engine = Engine(store)
        it = open_intake(tmp_path, store.url, engine)
        it.started(asyncio.get_running_loop())  # (the engine thread is never started)
        assert [accept(it, 1), accept(it, 2), accept(it, 3)] == [1, 2, None]
        assert it.behind()
        with caplog.at_level(logging.WARNING, logger="triggerfish.server.intake"):
            await it.caught_up()
        assert "not committed yet" in caplog.text
        waiter = asyncio.ensure_future(it.caught_up())
        await asyncio.sleep(0.05)
        it.close()
        await asyncio.wait_for(waiter, 1.0)
        store.close()
        lines = journal_dir(tmp_path, store.url, Store(store.url).epoch())
        assert [len(p.read_bytes().splitlines()) for p in lines.glob("*.log")] == [2]

    asyncio.run(main())


def test_no_journal_for_a_database_in_memory() -> None:
    assert in_memory("sqlite://") and in_memory("sqlite:///:memory:")
    assert not in_memory("sqlite:////var/lib/triggerfish/triggerfish.db")
    assert not in_memory("postgresql://tf@db/farm")
