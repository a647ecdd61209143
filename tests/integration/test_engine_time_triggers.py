"""Time atoms in the real engine, on both stores: the Qube delayed-start recipe, repeats on a
fixed grid, time combined with other atoms, cancellation, restart and missed timers."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from helpers_engine import Farm, job, wait_until

from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import callbacks as cbx
from triggerfish.store import reads
from triggerfish.store import tables as t
from triggerfish.triggers.vocabulary import QB_TIME_EPOCH_OFFSET


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def qube_time(unix: float) -> int:
    return int(unix) - QB_TIME_EPOCH_OFFSET


def stored_timers(farm: Farm) -> list[str]:
    with farm.db.connect() as conn:
        return sorted(r.key for r in conn.execute(sa.select(t.timers)))


def time_events(farm: Farm, job_id: int | None = None) -> list[dict[str, Any]]:
    types = ("time", "repeat", "globaltime", "globalrepeat")
    return [e for e in farm.events(job_id) if e["type"] in types]


def delayed(at: str, **fields: Any) -> dict[str, Any]:
    """Qube's recipe: submitted blocked, a time atom unblocks it."""
    cb = {"triggers": f"dummy-time-self-{at}", "language": "qube", "code": "unblock-self"}
    return job("1-2", status="blocked", callbacks=[cb], **fields)


def test_qube_recipe_blocked_until_its_time(farm: Farm) -> None:
    at = int(time.time()) + 2  # whole seconds: Qube time has no fraction
    farm.submit(delayed(str(qube_time(at))))
    assert farm.status(1) == "blocked"
    assert len(stored_timers(farm)) == 1
    assert wait_until(lambda: farm.status(1) == "pending", timeout=15)
    [ev] = time_events(farm, 1)
    assert (ev["name"], ev["type"], ev["job"]) == ("dummy", "time", 1)
    assert ev["time"] >= at  # never early
    assert ev["data"]["due"] == at
    names = [(e["name"], e["type"]) for e in farm.events(1)]
    assert names.index(("dummy", "time")) < names.index(("pending", "job"))
    assert ("fired", "callback") in names
    assert stored_timers(farm) == []  # a one-shot time is gone once fired


def test_iso_time_and_qube_time_name_the_same_moment(farm: Farm) -> None:
    at = int(time.time()) + 1
    iso = datetime.fromtimestamp(at, UTC).astimezone().isoformat()
    farm.submit(delayed(iso), delayed(str(qube_time(at))))
    assert len(stored_timers(farm)) == 2  # one timer per job: the atoms say "self"
    assert wait_until(lambda: farm.status(1) == "pending" and farm.status(2) == "pending")
    assert [e["data"]["time"] for e in time_events(farm)] == [str(at), str(at)]


def test_time_combines_with_other_atoms(farm: Farm) -> None:
    at = int(time.time()) + 1
    cb = {"triggers": f"dummy-time-self-{qube_time(at)} && complete-job-a", "code": "unblock-self"}
    farm.submit(job("1", label="a"), job("1", label="b", status="blocked", callbacks=[cb]))
    assert wait_until(lambda: len(time_events(farm, 2)) == 1)
    assert farm.status(2) == "blocked"  # time latched, job a not complete yet
    farm.register("h1")
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert farm.status(2) == "complete"  # released by job a's completion, then run
    order = [(e["name"], e["type"], e["job"]) for e in farm.events()]
    assert order.index(("complete", "job", 1)) < order.index(("pending", "job", 2))


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_repeat_stays_on_its_grid_until_maximum(farm: Farm) -> None:
    start = int(time.time()) + 1
    cb = {"triggers": f"dummy-repeat-self-{qube_time(start)}-1", "code": "block-self",
          "maximum": 3}  # fmt: skip
    farm.submit(job("1", callbacks=[cb]))
    assert wait_until(lambda: len(reads.list_runs(farm.db, job=1)) == 3, timeout=15)
    evs = time_events(farm, 1)
    assert [e["data"]["due"] for e in evs] == [start, start + 1, start + 2]
    assert all(e["time"] >= e["data"]["due"] for e in evs)
    assert all(e["type"] == "repeat" for e in evs)
    # exhausted: the timer is cancelled, no more time events
    assert wait_until(lambda: stored_timers(farm) == [])
    time.sleep(1.2)
    assert len(time_events(farm, 1)) == 3


def test_removing_the_job_cancels_its_timers(farm: Farm) -> None:
    at = qube_time(time.time() + 3600)
    farm.submit(delayed(str(at)), delayed(str(at)))
    assert len(stored_timers(farm)) == 2
    farm.control("remove", 1)
    assert len(stored_timers(farm)) == 1
    farm.control("remove", 2)
    assert stored_timers(farm) == []


def test_global_time_callbacks_share_a_timer_and_removal_cancels_it(farm: Farm) -> None:
    at = int(time.time()) + 1
    spec = CallbackSpec(triggers=f"globaltime-{qube_time(at)}", language="python", code="pass")
    a = farm.run(cbx.add_global, spec, "alice")
    b = farm.run(cbx.add_global, spec, "alice")
    assert len(stored_timers(farm)) == 1
    farm.run(cbx.remove_global, a.id)
    assert len(stored_timers(farm)) == 1  # b still listens
    assert wait_until(lambda: len(time_events(farm)) == 1)
    [ev] = time_events(farm)
    assert (ev["name"], ev["type"], ev["job"]) == ("dummy", "globaltime", None)
    runs = reads.list_runs(farm.db)
    assert [r["callback"] for r in runs] == [b.id]
    farm.run(cbx.remove_global, b.id)
    repeat = CallbackSpec(triggers=f"globalrepeat-{qube_time(at) + 3600}-60", language="python",
                          code="pass")  # fmt: skip
    c = farm.run(cbx.add_global, repeat, "alice")
    assert len(stored_timers(farm)) == 1
    farm.run(cbx.remove_global, c.id)
    assert stored_timers(farm) == []


def test_time_triggers_survive_a_restart(farm: Farm) -> None:
    at = int(time.time()) + 2
    farm.submit(delayed(str(qube_time(at))))
    farm.restart()
    assert farm.status(1) == "blocked"
    assert wait_until(lambda: farm.status(1) == "pending", timeout=15)
    assert len(time_events(farm, 1)) == 1


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_missed_time_fires_once_after_restart(farm: Farm) -> None:
    at = int(time.time()) + 1
    cb = {"triggers": f"dummy-repeat-self-{qube_time(at)}-1", "code": "block-self"}
    farm.submit(delayed(str(qube_time(at))), job("1", callbacks=[cb]))
    farm.stop()
    time.sleep(3.5)  # down across the one-shot time and three periods of the repeat
    farm.start()
    assert wait_until(lambda: farm.status(1) == "pending", timeout=15)
    assert len(time_events(farm, 1)) == 1
    repeats = time_events(farm, 2)
    assert repeats, "the missed repeat fired at restart"
    assert repeats[0]["data"]["due"] == at
    # once for all the missed periods: the next firing (if any yet) is a grid time after it
    for prev, nxt in itertools.pairwise(repeats):
        assert nxt["data"]["due"] > prev["time"]
        assert float(nxt["data"]["due"]).is_integer()
