"""Dispatch through the real engine: order, cpus, slots, placement, sticky instances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_priority_then_job_id(farm: Farm) -> None:
    farm.submit(job("1"))  # 1: priority 9999
    farm.submit(job("1", priority=50))  # 2
    farm.submit(job("1", priority=1))  # 3: later but most urgent
    farm.submit(job("1", priority=50))  # 4: same priority as 2, later id
    farm.register("h1", 1)
    order = []
    for _ in range(4):
        [a] = farm.pull("h1").assignments
        order.append(a.job)
        farm.report("h1", a.token)
    assert order == [3, 2, 4, 1]
    assert [farm.status(i) for i in (1, 2, 3, 4)] == ["complete"] * 4


def test_order_holds_for_jobs_arriving_while_others_run(farm: Farm) -> None:
    farm.register("h1", 1)
    farm.submit(job("1", priority=50))  # 1
    [first] = farm.pull("h1").assignments
    order = [first.job]
    farm.submit(job("1"))  # 2: priority 9999
    farm.submit(job("1", priority=1))  # 3
    farm.submit(job("1-2", priority=50))  # 4: two items, same priority as 1
    token = first.token
    for _ in range(4):
        [a] = farm.report("h1", token).assignments  # the answer carries the next work
        order.append(a.job)
        token = a.token
        if a.job == 3:
            farm.submit(job("1", priority=2))  # 5: arrives later, more urgent than 4
    assert order == [1, 3, 5, 4, 4]
    [last] = farm.report("h1", token).assignments
    assert last.job == 2


def test_one_pull_fills_slots_in_priority_order(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.submit(job("1-2", priority=1))
    farm.register("h1", 2)
    got = farm.pull("h1").assignments
    # job 2 is more urgent, but it has cpus=1: one item of it, then job 1
    assert [(a.job, a.work) for a in got] == [(2, "1"), (1, "1")]


def test_cpus_limits_items_running_at_once(farm: Farm) -> None:
    farm.submit(job("1-10", cpus=3))
    farm.register("h1", 8)
    farm.register("h2", 8)
    got = farm.pull("h1").assignments + farm.pull("h2").assignments
    assert len(got) == 3
    assert sorted(a.subid for a in got) == [0, 1, 2]
    assert sorted(a.work or "" for a in got) == ["1", "2", "3"]
    tally = farm.job(1)["todotally"]
    assert tally["running"] == 3 and tally["pending"] == 7
    assert Counter(w["status"] for w in farm.job(1)["agenda"])["running"] == 3


def test_host_never_gets_more_than_its_slots(farm: Farm) -> None:
    farm.submit(job("1-10", cpus=10))
    farm.register("h1", 2)
    first = farm.pull("h1").assignments
    assert len(first) == 2
    running = [a.token for a in first]
    assert farm.pull("h1", running=running).assignments == []
    farm.report("h1", running[0])  # the freed slot goes to the same instance (sticky)
    got = farm.pull("h1", running=running[1:]).assignments
    assert len(got) == 1
    assert sum(1 for w in farm.job(1)["agenda"] if w["status"] == "running") == 2
    assert farm.pull("h1", running=[running[1], got[0].token]).assignments == []


def test_hosts_placement(farm: Farm) -> None:
    farm.submit(job("1", hosts=["h2"]))
    farm.register("h1", 4)
    farm.register("h2", 4)
    assert farm.pull("h1").assignments == []
    [a] = farm.pull("h2").assignments
    assert a.job == 1
    assert farm.work(1, "1")["host"] == "h2"


def test_omithosts_placement(farm: Farm) -> None:
    farm.submit(job("1", omithosts="h1"))
    farm.register("h1", 4)
    farm.register("h2", 4)
    assert farm.pull("h1").assignments == []
    assert [a.job for a in farm.pull("h2").assignments] == [1]


def test_groups_placement(farm: Farm) -> None:
    farm.submit(job("1", groups=["gpu"]))
    farm.submit(job("1", omitgroups=["gpu"]))
    farm.register("cpu1", 4, groups=["cpu"])
    farm.register("gpu1", 4, groups=["gpu", "big"])
    assert [a.job for a in farm.pull("cpu1").assignments] == [2]
    assert [a.job for a in farm.pull("gpu1").assignments] == [1]


def test_cluster_placement(farm: Farm) -> None:
    farm.submit(job("1", cluster="/farm/a"))
    farm.register("nocluster", 4)
    farm.register("other", 4, cluster="/farm/b")
    farm.register("prefix", 4, cluster="/farm/ab")  # not a sub-cluster of /farm/a
    farm.register("sub", 4, cluster="/farm/a/rack1")
    for h in ("nocluster", "other", "prefix"):
        assert farm.pull(h).assignments == [], h
    assert [a.job for a in farm.pull("sub").assignments] == [1]


def test_ineligible_urgent_job_does_not_block_others(farm: Farm) -> None:
    farm.submit(job("1", priority=1, hosts=["elsewhere"]))
    farm.submit(job("1"))
    farm.register("h1", 1)
    assert [a.job for a in farm.pull("h1").assignments] == [2]


def test_instance_is_sticky_after_a_report(farm: Farm) -> None:
    farm.submit(job("1-4"))
    farm.register("h1", 1)
    farm.register("h2", 1)
    [a] = farm.pull("h1").assignments
    assert (a.work, a.subid) == ("1", 0)
    assert farm.pull("h2").assignments == []  # cpus=1: the only instance is busy
    for expected in ("2", "3", "4"):
        farm.report("h1", a.token)
        assert farm.pull("h2").assignments == []  # the next item stays with h1
        [a] = farm.pull("h1").assignments
        assert (a.work, a.subid, a.job) == (expected, 0, 1)
        assert farm.work(1, expected)["host"] == "h1"
    farm.report("h1", a.token)
    assert farm.status(1) == "complete"
    assert {w["host"] for w in farm.job(1)["agenda"]} == {"h1"}
    assert farm.names(job=1, type_="host").count("assigned") == 4


def test_assignment_carries_frame_numbers(farm: Farm) -> None:
    farm.submit(
        {
            "package": {"cmdline": "r $QB_FRAME_START", "range": "1-20x2", "chunk": 3},
            "env": {"A": "1"},
            "cwd": "/tmp",
            "name": "shot",
        }
    )
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    assert (a.work, a.frame_start, a.frame_end, a.frame_step) == ("1-5", 1, 5, 2)
    assert (a.pgrp, a.name, a.prototype, a.env, a.cwd) == (
        1,
        "shot",
        "cmdrange",
        {"A": "1"},
        "/tmp",
    )
    assert a.package["cmdline"] == "r $QB_FRAME_START"


def test_dispatch_writes_assignment_and_running_events(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    w = farm.work(1, "1")
    assert (w["status"], w["host"], w["subid"], w["token"]) == ("running", "h1", 0, a.token)
    j = farm.job(1)
    assert j["status"] == "running" and j["timestart"] is not None
    assert j["subjobs"][0]["status"] == "running" and j["subjobs"][0]["host"] == "h1"
    evs = [(e["name"], e["type"], e["work"]) for e in farm.events(job=1)][2:]
    assert ("assigned", "host", "1") in evs
    assert ("running", "work", "1") in evs
    assert ("running", "subjob", None) in evs
    assert ("running", "job", None) in evs
