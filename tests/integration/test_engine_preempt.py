"""Preemption through the real engine (real store, fake workers): a more urgent job takes the
slot at the next item boundary, and lookahead does not keep it from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job
from helpers_engine import pull_ahead as pull
from helpers_engine import report_ahead as report


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_the_next_boundary_gives_the_slot_to_the_urgent_job(farm: Farm) -> None:
    farm.submit(job("1-10", priority=9000))
    farm.register("h1")
    [first] = pull(farm, "h1", ahead=0).assignments
    farm.submit(job("1-2", priority=1))
    resp = report(farm, "h1", first.token, ahead=0)
    assert [(a.job, a.work) for a in resp.assignments] == [(2, "1")]
    assert farm.work_statuses(1)["2"] == "pending"
    [ev] = [e for e in farm.events(job=1) if e["name"] == "preempt"]
    assert (ev["type"], ev["subid"], ev["host"], ev["data"]["by"]) == ("subjob", 0, "h1", 2)


def test_preemption_none_goes_on_with_its_own_items(farm: Farm) -> None:
    farm.submit(job("1-10", priority=9000, preemption="none"))
    farm.register("h1")
    [first] = pull(farm, "h1", ahead=0).assignments
    farm.submit(job("1-2", priority=1))
    resp = report(farm, "h1", first.token, ahead=0)
    assert [(a.job, a.work) for a in resp.assignments] == [(1, "2")]


def test_items_held_ahead_are_withdrawn_but_the_started_one_goes_on(farm: Farm) -> None:
    farm.submit(job("1-20", priority=9000))
    farm.register("h1")
    [first] = pull(farm, "h1").assignments
    resp = report(farm, "h1", first.token, seconds=0.02)  # 2 runs, 3..7 held behind it
    held = {a.work: a.token for a in resp.assignments}
    assert list(held) == ["2", "3", "4", "5", "6", "7"]
    farm.submit(job("1-2", priority=1))
    # the worker ran 2, then started 3 (held): 3 goes on, 4..7 are withdrawn, none added
    resp = report(farm, "h1", held["2"], seconds=0.02)
    assert resp.assignments == []
    assert sorted(resp.cancel) == sorted(held[w] for w in ("4", "5", "6", "7"))
    statuses = farm.work_statuses(1)
    assert statuses["3"] == "running"
    assert all(statuses[w] == "pending" for w in ("4", "5", "6", "7"))
    # 3 ends: the slot goes to the urgent job
    resp = report(farm, "h1", held["3"], seconds=0.02)
    assert [(a.job, a.work) for a in resp.assignments][:1] == [(2, "1")]
    assert all(w["retry"] == 0 for w in farm.job(1)["agenda"])


def test_the_preempt_verb_takes_a_running_item_back_uncounted(farm: Farm) -> None:
    farm.submit(job("1-3"))
    farm.register("h1")
    [first] = pull(farm, "h1", ahead=0).assignments
    [res] = farm.control("preempt", "1:1").results
    assert res.status == "pending"
    w = farm.work(1, "1")
    assert (w["status"], w["retry"]) == ("pending", 0)
    assert "preempt" in farm.names(job=1, type_="work", work="1")
    resp = pull(farm, "h1", ahead=0, running=[first.token])
    assert first.token in resp.cancel


def test_preemption_can_be_modified(farm: Farm) -> None:
    farm.submit(job("1-10", priority=9000))
    farm.register("h1")
    [first] = pull(farm, "h1", ahead=0).assignments
    farm.control("modify", 1, fields={"preemption": "none"})
    farm.submit(job("1-2", priority=1))
    resp = report(farm, "h1", first.token, ahead=0)
    assert [(a.job, a.work) for a in resp.assignments] == [(1, "2")]
