"""``after`` (a held job on a time callback) and ``timeout`` / ``agenda_timeout`` events, in the
real engine on both stores."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from helpers_engine import Farm, job, wait_until

from triggerfish.errors import Conflict, ValidationError
from triggerfish.store import reads
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


def test_a_held_job_is_moved_earlier_and_later(farm: Farm) -> None:
    farm.submit(job("1", after="+1h"), job("1", label="up"),
                job("1", after="+1h", dependency="link-complete-job-up"))  # fmt: skip
    farm.control("modify", 1, fields={"after": "+1.5s"})  # an hour early
    held = farm.job(1)
    assert held["status"] == "blocked" and held["reason"] == f"held until {held['fields']['after']}"
    assert wait_until(lambda: farm.status(1) == "pending", timeout=15)
    [ev] = [e for e in farm.events(1) if e["type"] == "time"]
    assert ev["time"] >= ev["data"]["due"] and ev["data"]["due"] < ev["time"] + 5
    # job 3: its upstream finishes first, then its hold moves into the past: it goes at once
    farm.register("h1", slots=2)
    farm.run_all("h1")
    assert farm.status(2) == "complete" and farm.status(3) == "blocked"
    assert "held until" in farm.job(3)["reason"]
    resp = farm.control("modify", 3, fields={"after": "2020-01-01T00:00Z"})
    assert resp.results[0].status == "blocked"
    assert wait_until(lambda: farm.status(3) == "pending", timeout=15)
    [holder] = [c for c in reads.list_callbacks(farm.db, 3) if c["code"] == "unblock-self"]
    assert holder["triggers"] == "complete-job-up && dummy-time-self-2020-01-01T00:00:00Z"
    assert holder["count"] == 1
    assert stored_timers(farm) == []


def test_moving_a_hold_later_survives_a_restart(farm: Farm) -> None:
    farm.submit(job("1", after="+1.5s"))
    farm.control("modify", 1, fields={"after": "+1h"})
    farm.restart()
    time.sleep(2.5)  # past the first time: the job must still be held
    assert farm.status(1) == "blocked"
    assert len(stored_timers(farm)) == 1
    [holder] = reads.list_callbacks(farm.db, 1)
    assert holder["triggers"] == f"dummy-time-self-{farm.job(1)['fields']['after']}"


def test_only_a_held_job_can_be_moved(farm: Farm) -> None:
    farm.submit(job("1"), job("1", after="+1h"))
    before = farm.snapshot()
    with pytest.raises(Conflict, match=r"fields.after: job 1 is not held until a time"):
        farm.control("modify", 1, fields={"after": "+1h"})
    with pytest.raises(ValidationError, match=r"fields.after: .*to release the job now"):
        farm.control("modify", 2, fields={"after": None})
    with pytest.raises(ValidationError, match=r"fields.after"):
        farm.control("modify", 2, fields={"after": "tomorrow"})
    assert farm.snapshot() == before


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


def test_an_item_failed_by_its_timelimit_is_retried_as_retrywork_says(farm: Farm) -> None:
    farm.submit(job(["hung"], agenda_timelimit=0.5, retrywork=1))
    farm.register("h1")
    [first] = farm.pull("h1").assignments
    assert wait_until(lambda: farm.work(1, "hung")["retry"] == 1, timeout=15)
    assert farm.work(1, "hung")["status"] == "pending"
    [second] = farm.pull("h1", running=[]).assignments  # the worker dropped the killed one
    assert second.work == "hung" and second.token != first.token
    assert wait_until(lambda: farm.work(1, "hung")["status"] == "failed", timeout=15)
    assert farm.status(1) == "failed"
    names = [e["name"] for e in farm.events(1) if e["type"] == "work"]
    assert names.count("timeout") == 2 and names.count("retry") == 1


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
