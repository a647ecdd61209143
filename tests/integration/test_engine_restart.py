"""A supervisor restart loses nothing: jobs, items, statuses, events, counters, tokens, timers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job, wait_until

from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_restart_mid_run_loses_nothing_and_work_continues(farm: Farm) -> None:
    farm.submit(job("1-6", cpus=2, label="render"), job("1-2", status="blocked"))
    farm.register("h1", 2)
    got = farm.pull("h1").assignments
    assert len(got) == 2
    farm.report("h1", got[0].token)  # its instance takes item 3 at once (not yet delivered)
    running = [got[1].token]
    farm.pull("h1", running=running)  # item 3 delivered; item 2 confirmed
    before = farm.snapshot()
    events_before = farm.events()
    hosts_before = reads.list_hosts(farm.db)

    farm.restart()

    assert farm.snapshot() == before
    assert farm.events() == events_before
    assert [(h["name"], h["session"], h["slots"]) for h in reads.list_hosts(farm.db)] == [
        (h["name"], h["session"], h["slots"]) for h in hosts_before
    ]
    j = farm.job(1)
    assert j["status"] == "running"
    assert farm.work_statuses(1) == {
        "1": "complete",
        "2": "running",
        "3": "running",
        "4": "pending",
        "5": "pending",
        "6": "pending",
    }
    # the worker's running attempt is still valid after the restart
    resp = farm.report("h1", got[1].token)
    assert resp.accepted == [got[1].token]
    assert farm.work(1, "2")["status"] == "complete"
    # counters continue: no id and no event seq is used twice
    assert farm.submit(job("1")).jobs[0].id == 3
    seqs = [e["seq"] for e in farm.events()]
    assert seqs == list(range(1, len(seqs) + 1))
    # and the work runs to the end
    farm.run_all("h1")
    leftover = [w for w in farm.job(1)["agenda"] if w["status"] == "running"]
    for w in leftover:  # item 3, delivered before the restart, still running on h1
        assert farm.report("h1", w["token"]).accepted == [w["token"]]
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert farm.status(3) == "complete"
    assert farm.status(2) == "blocked"
    assert farm.job(1)["todotally"]["complete"] == 6


def test_undelivered_assignment_is_delivered_after_restart(farm: Farm) -> None:
    farm.submit(job("1-3"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token)  # item 2 assigned to the instance, never delivered
    w2 = farm.work(1, "2")
    assert w2["status"] == "running"
    farm.restart()
    [b] = farm.pull("h1").assignments
    assert (b.work, b.token) == ("2", w2["token"])
    farm.report("h1", b.token)
    [c] = farm.pull("h1").assignments
    assert c.work == "3"


def test_kill_after_restart_cancels_the_running_attempt(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.restart()
    farm.control("kill", 1)
    assert farm.pull("h1", running=[a.token]).cancel == [a.token]
    assert farm.report("h1", a.token).ignored == [a.token]
    assert farm.status(1) == "killed"


def test_lost_attempt_detected_after_restart(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.pull("h1", running=[a.token])
    farm.restart()
    farm.pull("h1", running=[a.token])  # confirmed again after the restart
    got = farm.pull("h1", running=[]).assignments  # now the worker lost it
    w = farm.work(1, "1")
    assert w["retry"] == 1
    assert [x.work for x in got] == ["1"] and got[0].token != a.token


def test_retry_delay_survives_restart(farm: Farm) -> None:
    delay = 1.0
    farm.submit(job("1", retrywork=1, retrywork_delay=delay))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    t0 = time.monotonic()
    farm.report("h1", a.token, "failed")
    retry_at = farm.work(1, "1")["retry_at"]
    farm.restart()
    w = farm.work(1, "1")
    assert (w["status"], w["retry"], w["retry_at"]) == ("retrying", 1, retry_at)
    assert farm.pull("h1").assignments == []
    got: list[str] = []

    def dispatched() -> bool:
        got.extend(x.work or "" for x in farm.pull("h1").assignments)
        return bool(got)

    assert wait_until(dispatched, timeout=10)
    assert time.monotonic() - t0 >= delay - 0.05
    assert got == ["1"]


def test_finished_and_removed_jobs_survive_restart(farm: Farm) -> None:
    farm.submit(job("1"), job("1"), job("1"))
    farm.register("h1", 1)
    farm.run_all("h1")
    farm.control("remove", 2)
    farm.restart()
    assert [(j["id"], j["status"]) for j in reads.list_jobs(farm.db)] == [
        (1, "complete"),
        (3, "complete"),
    ]
    assert farm.names(job=2)[-1] == "removed"
    farm.control("retry", 1)  # a finished job is loaded on demand after a restart
    farm.run_all("h1")
    assert farm.status(1) == "complete"


def test_restart_twice_without_changes_is_a_no_op(farm: Farm) -> None:
    farm.submit(job("1-3", status="blocked"))
    before = farm.snapshot()
    farm.restart()
    farm.restart()
    assert farm.snapshot() == before
    assert farm.control("unblock", 1).results[0].status == "pending"
