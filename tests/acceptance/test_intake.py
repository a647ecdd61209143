"""Tasks answered once journaled (the intake), end to end over HTTP: what was answered is found
at once, and survives the supervisor being killed before the engine committed it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from farms import StartFarm

from triggerfish.store.db import normalize_url
from triggerfish.tasks import Tasks

APP = "tasks_app"


@contextmanager
def writes_blocked(db_url: str) -> Iterator[Callable[[], None]]:
    """Another connection holds the database's write lock: the supervisor's commits wait.
    Yields what to call once the supervisor is killed: on PostgreSQL, its server process still
    waits on the lock (it sees its client gone only after its statement), and would commit
    that statement once the lock is let go; it is ended first."""
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield lambda: None
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    eng = sa.create_engine(normalize_url(db_url))
    try:
        with eng.connect() as conn, conn.begin():
            conn.execute(sa.text("LOCK TABLE jobs IN EXCLUSIVE MODE"))  # reads go on

            def end_waiters() -> None:
                conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ))  # fmt: skip

            yield end_waiters
    finally:
        eng.dispose()


def committed_jobs(db_url: str) -> int:
    eng = sa.create_engine(normalize_url(db_url))
    try:
        with eng.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one())
    finally:
        eng.dispose()


def test_a_task_is_found_as_soon_as_it_is_added(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        ids = []
        for i in range(150):
            tid = tasks.add(f"{APP}:echo", i)
            got = tasks.get(tid)  # the very next request finds it
            assert (got["id"], got["status"], got["target"]) == (tid, "pending", f"{APP}:echo")
            ids.append(tid)
        assert sorted(t["id"] for t in c.tasks(limit=1000)) == ids
        tid = tasks.add(f"{APP}:echo", "last")
        c.kill(tid)  # a command on it finds it too
        assert tasks.get(tid)["status"] == "killed"
        # params beyond 64 bits are kept exactly (the journal writes them as the store does)
        big = {"n": 2**70, "list": [-(2**65), 1.5]}
        [one, two] = [tasks.add(f"{APP}:echo", big), *tasks.add_many(f"{APP}:echo", [2**64])]
        assert c.job(one)["package"]["params"] == big
        assert c.job(two)["package"]["params"] == 2**64


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_tasks_answered_before_their_commit_survive_a_crash(
    start_farm: StartFarm, tasks_app: str, db_url: str, tmp_path: Path
) -> None:
    """The database refuses the supervisor's writes for a while (another connection holds
    the lock): tasks added then are answered all the same, from the journal. The supervisor
    is killed before it could commit them; started again, it adds them, once each, with the
    ids it answered, and a worker runs them."""
    farm = start_farm(db_url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        before = [tasks.add(f"{APP}:echo", i) for i in range(5)]
        c.jobs(limit=1)  # (waits until those are committed)
        with writes_blocked(db_url) as end_waiters:
            during = [tasks.add(f"{APP}:echo", 100 + i) for i in range(40)]
            during += tasks.add_many(f"{APP}:echo", [140 + i for i in range(10)])
            big = tasks.add(f"{APP}:echo", {"n": 2**70})
            farm.kill_supervisor()
            end_waiters()
    assert committed_jobs(db_url) == 5  # the 51 were in the journal only
    farm.restart_supervisor()
    with farm.client() as c:
        assert sorted(t["id"] for t in c.tasks(limit=1000)) == [*before, *during, big]
        assert [c.job(t)["package"]["params"] for t in during] == [100 + i for i in range(50)]
        assert c.job(big)["package"]["params"] == {"n": 2**70}  # read back exactly
    journal = [p for d in (tmp_path / "farm").glob("intake-*") for p in d.glob("*.log")]
    assert [p.stat().st_size for p in journal] == [0]  # applied: nothing left to add again
    farm.stop()
    farm2 = start_farm(db_url, workers=1)  # a worker runs them, each once
    with farm2.client() as c, Tasks(c) as tasks:
        assert tasks.result(during[-1], timeout=60) == {"got": 149}
        final = c.wait([*before, *during, big], timeout=120)
    assert set(final.values()) == {"complete"}


def test_no_intake_answers_after_the_commit(
    start_farm: StartFarm, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_INTAKE", "false")
    farm = start_farm(db_url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        tid = tasks.add(f"{APP}:echo", 1)
        assert committed_jobs(db_url) == 1  # committed before the answer
        assert tasks.get(tid)["status"] == "pending"
    assert not list((tmp_path / "farm").glob("intake-*"))


def test_a_database_made_again_does_not_take_the_old_journal(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    """Killed with tasks in its journal, then the database file is deleted: the new database
    starts empty (the old journal named the old database, and is dropped)."""
    db = tmp_path / "farm.db"
    url = f"sqlite:///{db}"
    farm = start_farm(url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        c.jobs(limit=1)
        with writes_blocked(url):
            for i in range(10):
                tasks.add(f"{APP}:echo", i)
            farm.kill_supervisor()
    journals = list((tmp_path / "farm").glob("intake-*"))
    assert [sum(p.stat().st_size for p in d.glob("*.log")) > 0 for d in journals] == [True]
    for p in tmp_path.glob("farm.db*"):
        p.unlink()
    farm.restart_supervisor()
    with farm.client() as c:
        assert c.tasks(limit=100) == []
    assert not journals[0].exists()
