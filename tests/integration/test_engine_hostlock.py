"""Host locks in the real engine and store (engine.hostlock): what was handed out ahead goes
back at once, a locked host's instance does not go on there, the lock is stored, and its
``lock`` host event fires callbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job, pull_ahead, report_ahead

from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import callbacks as cbx
from triggerfish.engine import hostlock
from triggerfish.errors import NotFound
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_lookahead_goes_back_and_the_instance_stops_at_its_item(farm: Farm) -> None:
    farm.submit(job("1-10"))
    farm.register("h1", 1)
    [first] = pull_ahead(farm, "h1").assignments
    resp = report_ahead(farm, "h1", first.token)  # short: the next items come held ahead
    held = [a for a in resp.assignments if a.after is not None]
    [now] = [a for a in resp.assignments if a.after is None]
    assert held
    info = farm.run(hostlock.lock, "h1", "root")
    assert info.locked and info.locked_by == "root" and info.used == 1
    # the held items were withdrawn: pending for anyone, the worker told to drop them
    cancel = pull_ahead(farm, "h1", running=[now.token]).cancel
    assert {a.token for a in held} <= set(cancel)
    after = report_ahead(farm, "h1", now.token)  # the running item finishes...
    assert after.assignments == []  # ...and nothing more goes there
    assert farm.work_statuses(1)["3"] == "pending"
    farm.register("h2", 1)
    [moved] = pull_ahead(farm, "h2", ahead=0).assignments
    assert moved.work == "3"
    [lock] = [e for e in farm.events() if e["name"] == "lock"]
    assert (lock["type"], lock["host"], lock["data"]) == ("host", "h1", {"by": "root"})


def test_the_lock_is_stored_and_survives_a_restart_and_a_new_registration(farm: Farm) -> None:
    farm.register("h1", 2)
    farm.run(hostlock.lock, "h1", "root")
    farm.restart()
    assert farm.run(lambda st: st.hosts["h1"].locked)
    farm.register("h1", 2)  # the worker starts again: still locked
    farm.submit(job("1-2"))
    assert farm.pull("h1").assignments == []
    [row] = reads.list_hosts(farm.db)
    assert row["locked_by"] == "root" and row["locked_at"] is not None
    info = farm.run(hostlock.unlock, "h1", "root")
    assert not info.locked
    assert len(farm.pull("h1").assignments) == 1  # (cpus=1: one instance)
    [row] = reads.list_hosts(farm.db)
    assert row["locked_by"] is None and row["locked_at"] is None
    with pytest.raises(NotFound):
        farm.run(hostlock.lock, "nobody", "root")


def test_lock_events_fire_host_callbacks(farm: Farm) -> None:
    spec = CallbackSpec(triggers="lock-host-*-h1", language="python", code="pass")
    cb = farm.run(cbx.add_global, spec, "alice")
    farm.register("h1", 1)
    farm.run(hostlock.lock, "h1", "root")
    farm.run(hostlock.lock, "h1", "root")  # locked already: no second event
    farm.run(hostlock.unlock, "h1", "root")
    assert [e["name"] for e in farm.events() if e["type"] == "host"] == ["up", "lock", "unlock"]
    assert [r["callback"] for r in reads.list_runs(farm.db)] == [cb.id]


def test_jobs_held_behind_its_slot_go_back_and_no_more_are_held(farm: Farm) -> None:
    farm.submit(*[job("1") for _ in range(6)])
    farm.register("h1")
    [first] = pull_ahead(farm, "h1").assignments
    got = report_ahead(farm, "h1", first.token, seconds=0.02).assignments
    assert [a.job for a in got] == [2, 3, 4, 5, 6]  # 2 runs; 3..6 held behind it
    farm.run(hostlock.lock, "h1", "root")
    assert {a.token for a in got[1:]} <= set(pull_ahead(farm, "h1", running=[got[0].token]).cancel)
    assert report_ahead(farm, "h1", got[0].token, seconds=0.02).assignments == []
    assert all(farm.status(j) == "pending" for j in (3, 4, 5, 6))
    farm.register("h2")
    assert [a.job for a in pull_ahead(farm, "h2", ahead=0).assignments] == [3]
