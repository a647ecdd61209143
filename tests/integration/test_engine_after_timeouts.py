"""``after`` (a held job on a time callback) and ``timeout`` / ``agenda_timeout`` events, in the
real engine on both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from helpers_engine import Farm, job, wait_until

from triggerfish.store import tables as t


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def stored_timers(farm: Farm) -> list[str]:
    with farm.db.connect() as conn:
        return sorted(r.key for r in conn.execute(sa.select(t.timers)))


def test_after_holds_the_job_until_its_time(farm: Farm) -> None:
    farm.submit(job("1", after="+1.5s"))
    held = farm.job(1)
    assert held["status"] == "blocked"
    assert held["reason"].startswith("held until ")
    until = held["fields"]["after"]
    farm.register("h1")
    assert farm.pull("h1").assignments == []
    assert wait_until(lambda: farm.status(1) == "pending", timeout=15)
    [ev] = [e for e in farm.events(1) if e["type"] == "time"]
    assert ev["time"] >= ev["data"]["due"]
    assert until.endswith("Z") and farm.job(1)["reason"] == ""
    assert [a.job for a in farm.pull("h1").assignments] == [1]


def test_timeout_events_and_timelimit_failures(farm: Farm) -> None:
    farm.submit(
        job(["slow", "fast"], agenda_timelimit=0.5, cpus=2),  # fails items running too long
        job(None, timeout=0.5),  # only the event
        job(None, timelimit=0.5),  # the instance fails, and with it the job
    )
    farm.register("h1", slots=4)
    got = {(a.job, a.work): a.token for a in farm.pull("h1").assignments}
    assert set(got) == {(1, "slow"), (1, "fast"), (2, None), (3, None)}
    farm.report("h1", got[(1, "fast")])  # done in time: its timer is cancelled
    assert wait_until(lambda: farm.work(1, "slow")["status"] == "failed", timeout=15)
    assert wait_until(lambda: any(e["name"] == "timeout" for e in farm.events(2)), timeout=15)
    assert wait_until(lambda: farm.status(3) == "failed", timeout=15)
    timeouts = sorted(
        (e["type"], e["job"], e["work"] or "") for e in farm.events() if e["name"] == "timeout"
    )
    assert timeouts == [("subjob", 2, ""), ("subjob", 3, ""), ("work", 1, "slow")]  # not "fast"
    assert farm.job(3)["subjobs"][0]["status"] == "failed"
    assert farm.work(1, "fast")["status"] == "complete"
    assert farm.status(2) == "running"  # timeout alone changes nothing (Qube)
    assert stored_timers(farm) == []


def test_timeout_timers_survive_a_restart(farm: Farm) -> None:
    farm.submit(job(["a"], agenda_timeout=1.0))
    farm.register("h1")
    [a] = farm.pull("h1").assignments
    assert len(stored_timers(farm)) == 1
    farm.restart()
    assert wait_until(lambda: any(e["name"] == "timeout" for e in farm.events(1)), timeout=15)
    [ev] = [e for e in farm.events(1) if e["name"] == "timeout"]
    assert (ev["type"], ev["work"], ev["data"]["timeout"]) == ("work", "a", 1.0)
    assert a.work == "a"
