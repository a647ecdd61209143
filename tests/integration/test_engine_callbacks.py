"""Callbacks in the engine: qube actions, pattern variables, dependencies, catch-up, durability.

Real store (SQLite and PostgreSQL), real engine thread; hosts are driven by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.errors import ValidationError
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


FRAME_LINK = "complete-work-ribgen-$f && complete-work-render-$f"


def pipeline(frames: str = "1-3", **composite: Any) -> list[dict[str, Any]]:
    """The seed's ribgen -> render -> composite, composite frames blocked until both inputs."""
    blocked = [{"name": str(n), "status": "blocked"} for n in range(1, 4)]
    comp = job(blocked, label="composite",
               callbacks=[{"triggers": FRAME_LINK, "code": "unblock-work-self"}],
               **composite)  # fmt: skip
    return [job(frames, label="ribgen", cpus=3), job(frames, label="render", cpus=3), comp]


def complete(farm: Farm, host: str, job_id: int, name: str) -> None:
    """Run (pull) until ``job_id:name`` is assigned to ``host``, then report it complete."""
    for _ in range(50):
        for token, a in list(farm.held.get(host, {}).items()):
            if (a.job, a.work) == (job_id, name):
                farm.report(host, token)
                return
        farm.pull(host)
    raise AssertionError(f"{job_id}:{name} never reached {host}")


def test_frame_by_frame_release_with_one_pattern_callback(farm: Farm) -> None:
    resp = farm.submit(*pipeline())
    assert resp.warnings == []
    farm.register("h1", slots=8)
    farm.pull("h1")
    assert farm.work_statuses(3) == {"1": "blocked", "2": "blocked", "3": "blocked"}
    complete(farm, "h1", 1, "2")  # ribgen 2 alone releases nothing
    assert farm.work_statuses(3)["2"] == "blocked"
    complete(farm, "h1", 2, "2")  # render 2 too: composite 2 goes
    assert farm.work_statuses(3) == {"1": "blocked", "2": "pending", "3": "blocked"}
    complete(farm, "h1", 2, "1")
    complete(farm, "h1", 1, "1")
    assert farm.work_statuses(3)["1"] == "pending"
    # the event log: composite 2 was unblocked right after render 2 completed, by one firing
    events = farm.events()
    order = [(e["name"], e["type"], e["job"], e["work"]) for e in events]
    i = order.index(("complete", "work", 2, "2"))
    assert ("pending", "work", 3, "2") in order[i:]
    fired = [e for e in events if e["name"] == "fired"]
    assert [e["data"]["bindings"] for e in fired] == [{"f": "2"}, {"f": "1"}]
    runs = reads.list_runs(farm.db, job=3)
    assert [(r["status"], r["bindings"]) for r in runs] == [
        ("complete", {"f": "2"}),
        ("complete", {"f": "1"}),
    ]
    assert "unblock 3:2: pending" in runs[0]["output"]
    [cb] = reads.list_callbacks(farm.db, 3)
    assert cb["count"] == 2 and cb["triggers"] == FRAME_LINK


def test_dependency_field_releases_the_job_when_upstream_completes(farm: Farm) -> None:
    farm.submit(job("1-2", label="a"), job("1", label="b", dependency="link-complete-job-a"))
    assert farm.status(2) == "blocked"
    assert "waiting for link-complete-job-a" in farm.job(2)["reason"]
    farm.register("h1", slots=4)
    assert {a.job for a in farm.pull("h1").assignments} == {1}
    complete(farm, "h1", 1, "1")
    assert farm.status(2) == "blocked"
    complete(farm, "h1", 1, "2")
    assert farm.status(1) == "complete"
    assert farm.status(2) == "pending" and farm.job(2)["reason"] == ""
    assert 2 in {a.job for a in farm.pull("h1").assignments}


def test_frame_links_through_the_dependency_field(farm: Farm) -> None:
    farm.submit(job("1-2", label="ribgen", cpus=2),
                job("1-2", label="render", dependency="link-complete-work-ribgen"))  # fmt: skip
    assert farm.work_statuses(2) == {"1": "blocked", "2": "blocked"}
    farm.register("h1", slots=4)
    complete(farm, "h1", 1, "2")
    assert farm.work_statuses(2) == {"1": "blocked", "2": "pending"}
    release, on_failure = reads.list_callbacks(farm.db, 2)
    assert (release["source"], release["code"]) == ("dependency", "unblock-work-self")
    assert on_failure["triggers"] == "failed-work-ribgen-$f || killed-work-ribgen-$f"


def test_catch_up_releases_a_job_whose_upstream_already_finished(farm: Farm) -> None:
    farm.submit(job("1", label="a"))
    farm.register("h1", slots=1)
    complete(farm, "h1", 1, "1")
    assert farm.status(1) == "complete"
    farm.submit(job("1", label="b", pgrp=1, dependency="link-complete-job-a"))
    assert farm.status(2) == "pending"


def test_without_catch_up_a_finished_upstream_is_missed(farm: Farm) -> None:
    farm.submit(job("1", label="a"))
    farm.register("h1", slots=1)
    complete(farm, "h1", 1, "1")
    cb = {"triggers": "complete-job-a", "code": "unblock-self", "catchup": False}
    farm.submit(job("1", label="b", pgrp=1, status="blocked", callbacks=[cb]))
    assert farm.status(2) == "blocked"


def test_a_label_that_joins_later_resolves_the_waiting_atom(farm: Farm) -> None:
    cb = {"triggers": "complete-job-ribGen", "code": "unblock-self"}
    resp = farm.submit(job("1", label="comp", status="blocked", callbacks=[cb]),
                       job("1", label="ribgen"))  # fmt: skip
    assert len(resp.warnings) == 1
    assert "'ribGen'" in resp.warnings[0] and "did you mean 'ribgen'" in resp.warnings[0]
    farm.submit(job("1", label="ribGen", pgrp=1))  # job 3 joins with the label
    farm.register("h1", slots=4)
    complete(farm, "h1", 3, "1")
    assert farm.status(1) == "pending"


def test_a_label_that_joins_later_gets_its_own_submit_event(farm: Farm) -> None:
    # The joining job's submit and pending events are written before the waiting atoms learn
    # its id: they must still see them, once each.
    cbs = [{"triggers": "submit-job-late", "code": "unblock-self"},
           {"triggers": "pending-job-late", "code": "unblock-self", "maximum": 5}]  # fmt: skip
    resp = farm.submit(job("1", label="waiter", status="blocked", callbacks=cbs[:1]),
                       job("1", label="counter", status="blocked", callbacks=cbs[1:]))  # fmt: skip
    assert len(resp.warnings) == 2
    assert farm.status(1) == "blocked"
    farm.submit(job("1", label="late", pgrp=1))  # job 3 joins with the label
    assert (farm.status(1), farm.status(2)) == ("pending", "pending")
    fired = [e for e in farm.events() if e["name"] == "fired"]
    assert sorted(e["job"] for e in fired) == [1, 2]  # each callback fired once, not twice
    [counter] = reads.list_callbacks(farm.db, 2)
    assert counter["count"] == 1


def test_latches_survive_a_restart(farm: Farm) -> None:
    farm.submit(*pipeline())
    farm.register("h1", slots=8)
    complete(farm, "h1", 1, "3")  # ribgen 3 latched for f=3, render 3 not yet
    held = dict(farm.held["h1"])
    farm.restart()
    [cb] = reads.list_callbacks(farm.db, 3)
    assert cb["latches"]["pending"] == {"3": [0]}
    farm.held["h1"] = held  # the worker kept running across the restart
    complete(farm, "h1", 2, "3")
    assert farm.work_statuses(3)["3"] == "pending"
    assert len(reads.list_runs(farm.db, job=3)) == 1


def test_maximum_limits_the_firings(farm: Farm) -> None:
    cb = {"triggers": "done-work-self-*", "code": "block-self", "maximum": 1}
    farm.submit(job("1-3", cpus=3, callbacks=[cb]))
    farm.register("h1", slots=3)
    farm.pull("h1")
    complete(farm, "h1", 1, "1")
    assert farm.status(1) == "blocked"
    farm.control("unblock", 1)
    farm.run_all("h1")
    [row] = reads.list_callbacks(farm.db, 1)
    assert row["count"] == 1
    assert farm.status(1) == "complete"


def test_a_callback_action_that_makes_no_sense_is_recorded_not_raised(farm: Farm) -> None:
    cb = {"triggers": "running-job-self", "code": "unblock-self"}  # the job is not blocked
    farm.submit(job("1", callbacks=[cb]))
    farm.register("h1", slots=1)
    farm.run_all("h1")
    [run] = reads.list_runs(farm.db, job=1)
    assert run["status"] == "complete" and run["output"].startswith("skipped: unblock job 1")
    assert farm.status(1) == "complete"


def test_bad_callbacks_store_nothing(farm: Farm) -> None:
    before = farm.snapshot()
    bad = {"triggers": "complete-job-parent", "code": "unblock-self"}  # no pid
    with pytest.raises(ValidationError) as exc:
        farm.submit(job("1"), job("1", callbacks=[bad]))
    assert exc.value.field == "jobs[1].callbacks[0].triggers"
    assert "parent" in exc.value.message
    assert farm.snapshot() == before
    assert reads.list_callbacks(farm.db, 1) == [] and reads.list_callbacks(farm.db, 2) == []


def test_removing_a_job_removes_its_callbacks(farm: Farm) -> None:
    farm.submit(*pipeline())
    farm.control("remove", 3)
    assert reads.list_callbacks(farm.db, 3) == []
    farm.register("h1", slots=8)
    farm.run_all("h1")  # nothing fires for the removed job
    assert reads.list_runs(farm.db, job=3) == []


def _fail_upstream(farm: Farm) -> None:
    farm.register("h1", slots=2)
    [a] = [a for a in farm.pull("h1").assignments if a.job == 1]
    farm.report("h1", a.token, "failed")
    assert farm.status(1) == "failed"


def test_dependency_failure_wait_says_why_in_the_reason(farm: Farm) -> None:
    farm.submit(job("1", label="a"), job("1", label="b", dependency="link-complete-job-a"))
    _fail_upstream(farm)
    assert farm.status(2) == "blocked"
    assert "upstream job 1 failed" in farm.job(2)["reason"]


def test_dependency_failure_fail_fails_the_job(farm: Farm) -> None:
    farm.submit(job("1", label="a"),
                job("1", label="b", dependency="link-complete-job-a",
                    dependency_failure="fail"))  # fmt: skip
    _fail_upstream(farm)
    assert farm.status(2) == "failed"


def test_dependency_failure_run_releases_the_job(farm: Farm) -> None:
    farm.submit(job("1", label="a"),
                job("1", label="b", dependency="link-complete-job-a",
                    dependency_failure="run"))  # fmt: skip
    _fail_upstream(farm)
    assert farm.status(2) == "pending"
