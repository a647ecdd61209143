"""An answer means committed, end to end over HTTP: a task added is in the database the moment
its add is answered, and survives the supervisor being SIGKILLed right after; a journal of
tasks an older triggerfish answered before committing them is added at start."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from farms import StartFarm

from triggerfish.cli.local import LocalFarm
from triggerfish.model.tasks import TaskRequest
from triggerfish.server import oldintake
from triggerfish.store.db import normalize_url
from triggerfish.tasks import Tasks

APP = "tasks_app"
PRODUCERS = 8  # threads adding at once: their adds share commits
EACH = 25


def stored_params(db_url: str) -> dict[int, object]:
    """Job id -> params of every job the database holds (read without any supervisor)."""
    eng = sa.create_engine(normalize_url(db_url))
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, package FROM jobs")).all()
    finally:
        eng.dispose()
    return {int(i): (json.loads(p) if isinstance(p, str) else p).get("params") for i, p in rows}


def test_a_task_is_found_as_soon_as_it_is_added(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        ids = []
        for i in range(50):
            tid = tasks.add(f"{APP}:echo", i)
            assert stored_params(db_url)[tid] == i  # committed before the answer
            got = tasks.get(tid)
            assert (got["id"], got["status"], got["target"]) == (tid, "pending", f"{APP}:echo")
            ids.append(tid)
        assert sorted(t["id"] for t in c.tasks(limit=1000)) == ids
        big = {"n": 2**70, "list": [-(2**65), 1.5]}  # kept exactly
        [one, two] = [tasks.add(f"{APP}:echo", big), *tasks.add_many(f"{APP}:echo", [2**64])]
        assert c.job(one)["package"]["params"] == big
        assert c.job(two)["package"]["params"] == 2**64


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_tasks_answered_survive_a_kill_at_once(
    start_farm: StartFarm, db_url: str, tmp_path: Path
) -> None:
    """200 tasks added by 8 threads at once, the supervisor SIGKILLed as soon as the last is
    answered: a new supervisor, with another data dir, on the same database finds all 200
    (nothing of what was answered stayed behind on the first one's disk)."""
    farm = start_farm(db_url, workers=0)
    answered: dict[int, int] = {}
    lock = threading.Lock()

    def produce(p: int) -> None:
        with farm.client() as c, Tasks(c) as tasks:
            for i in range(EACH):
                n = p * EACH + i
                tid = tasks.add(f"{APP}:echo", n)
                with lock:
                    answered[tid] = n

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    farm.kill_supervisor()
    assert len(answered) == PRODUCERS * EACH
    other = LocalFarm(workers=0, data_dir=tmp_path / "other", db_url=db_url, grace=5.0)
    with other, other.client() as c:
        found = {t["id"]: c.job(t["id"])["package"]["params"] for t in c.tasks(limit=1000)}
    assert found == answered


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_tasks_an_older_version_left_in_its_journal_are_added_at_start(
    start_farm: StartFarm, tasks_app: str, db_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The older version answered tasks 6 and 7 from its intake journal and was killed before
    committing them: this version adds them at start, with those ids, deletes the journal,
    and a worker runs them. Its removed option, still set in the environment, is ignored."""
    farm = start_farm(db_url, workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        before = [tasks.add(f"{APP}:echo", i) for i in range(5)]
    farm.stop()
    eng = sa.create_engine(normalize_url(db_url))
    with eng.begin() as conn:  # what the older version kept in the database
        conn.execute(sa.text("INSERT INTO counters (name, value) VALUES ('intake_epoch', 9),"
                             " ('intake_seq', 5)"))  # fmt: skip
    eng.dispose()
    journal = oldintake.journal_dir(tmp_path / "farm", db_url, 9)
    journal.mkdir()
    lines = [  # (lines 1-5: committed)
        {"seq": seq, "id": seq, "user": "bob", "job": TaskRequest(target=f"{APP}:echo",
                                                                params=seq).job()}
        for seq in range(1, 8)
    ]  # fmt: skip
    (journal / "000000000000001.log").write_text("".join(json.dumps(x) + "\n" for x in lines))
    monkeypatch.setenv("TRIGGERFISH_INTAKE", "true")
    farm = start_farm(db_url, workers=1)
    with farm.client() as c, Tasks(c) as tasks:
        assert sorted(t["id"] for t in c.tasks(limit=100)) == [*before, 6, 7]
        assert tasks.result(7, timeout=60) == {"got": 7}
        assert set(c.wait([6, 7], timeout=60).values()) == {"complete"}
        assert tasks.add(f"{APP}:echo", 8) == 8
    assert not journal.exists()
