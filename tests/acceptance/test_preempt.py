"""Priorities act at every frame boundary: real supervisor and workers (docs/dispatch-priority.md).

A more urgent job submitted behind a long, less urgent one takes its slot when the running
item ends (passive preemption), unless the running job says ``preemption: none``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from farms import StartFarm

from triggerfish.client import Client


def _job(name: str, priority: int, frames: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "package": {"cmdline": "sleep 0.3", "range": frames},
        **extra,
    }


def _wait_running(c: Client, job_id: int, timeout: float = 30.0) -> None:
    limit = time.monotonic() + timeout
    while c.job(job_id)["todotally"].get("complete", 0) < 1:
        assert time.monotonic() < limit, "the low job never ran"
        time.sleep(0.05)


def _low_done_when_high_completes(c: Client, low: int, high: int) -> int:
    """Waits for ``high``; the low job's complete items at the high job's completion (from
    the events, not from times)."""
    assert c.wait([high], timeout=60) == {high: "complete"}
    done = 0
    for e in c.all_events():
        if e["type"] == "job" and e["job"] == high and e["name"] == "complete":
            return done
        if e["type"] == "work" and e["job"] == low and e["name"] == "complete":
            done += 1
    raise AssertionError("no complete event of the high job")


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_an_urgent_job_takes_the_slot_at_the_next_frame_boundary(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [low] = c.submit([_job("low", 9000, "1-10")])
        _wait_running(c, low["id"])
        [high] = c.submit([_job("high", 1, "1-2")])
        done = _low_done_when_high_completes(c, low["id"], high["id"])
        assert done <= 4, f"{done} of 10 low items were done before the urgent job"
        assert c.wait([low["id"]], timeout=60) == {low["id"]: "complete"}
        detail = c.job(low["id"])
        assert detail["todotally"]["complete"] == 10
        assert all(w["retry"] == 0 for w in detail["agenda"])  # no attempt counted
        events = c.all_events()
    preempts = [e for e in events if e["name"] == "preempt" and e["job"] == low["id"]]
    assert preempts and preempts[0]["type"] == "subjob"
    assert preempts[0]["data"]["by"] == high["id"]


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_preemption_none_keeps_the_slot(start_farm: StartFarm, db_url: str) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [low] = c.submit([_job("low", 9000, "1-6", preemption="none")])
        _wait_running(c, low["id"])
        [high] = c.submit([_job("high", 1, "1")])
        done = _low_done_when_high_completes(c, low["id"], high["id"])
        assert done == 6
        events = c.all_events()
    assert not [e for e in events if e["name"] == "preempt"]


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_items_held_ahead_do_not_keep_the_slot_from_an_urgent_job(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        # short items: the worker is handed the next ones ahead (engine.ahead)
        low = c.submit(
            [_job("low", 9000, "1-150") | {"package": {"cmdline": "sleep 0.03", "range": "1-150"}}]
        )[0]
        _wait_running(c, low["id"])
        [high] = c.submit(
            [_job("high", 1, "1-3") | {"package": {"cmdline": "true", "range": "1-3"}}]
        )
        done = _low_done_when_high_completes(c, low["id"], high["id"])
        assert done < 75, f"{done} of 150 low items were done before the urgent job"
        assert c.wait([low["id"]], timeout=60) == {low["id"]: "complete"}
        detail = c.job(low["id"])
        assert detail["todotally"]["complete"] == 150
        assert all(w["retry"] == 0 for w in detail["agenda"])
        events = c.all_events(job=low["id"])
    runs = [e["work"] for e in events if e["type"] == "work" and e["name"] == "complete"]
    assert sorted(runs, key=int) == [str(f) for f in range(1, 151)]  # each once
    assert any(e["name"] == "preempt" for e in events)


def _running_item(c: Client, job_id: int, timeout: float = 30.0) -> str:
    limit = time.monotonic() + timeout
    while True:
        running = [w["name"] for w in c.job(job_id)["agenda"] if w["status"] == "running"]
        if running:
            return running[0]
        assert time.monotonic() < limit, "nothing of the job ran"
        time.sleep(0.05)


def _taken_back_once(c: Client, job_id: int, item: str, mode: str) -> None:
    """``item`` of ``job_id`` went back to pending once, with a preempt event, no failure
    counted, and then ran to its end."""
    assert c.wait([job_id], timeout=60) == {job_id: "complete"}
    agenda = {x["name"]: x for x in c.job(job_id)["agenda"]}
    assert agenda[item]["retry"] == 0 and agenda[item]["status"] == "complete", agenda[item]
    events = c.all_events(job=job_id)
    pre = [e for e in events if e["name"] == "preempt" and e["type"] == "work"]
    assert [(e["work"], e["data"]["mode"]) for e in pre][:1] == [(item, mode)]
    assert not [e for e in events if e["name"] in ("retry", "failed")]
    names = [e["name"] for e in events if e["type"] == "work" and e["work"] == item]
    assert names.count("running") == 2 and names.count("complete") == 1


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_the_preempt_verb_sends_running_items_back_without_a_failure(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([{"name": "long", "package": {"cmdline": "sleep 2", "range": "1-2"}}])
        item = _running_item(c, j["id"])
        [res] = c.preempt(j["id"])
        assert res["target"] == str(j["id"])
        _taken_back_once(c, j["id"], item, "verb")


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_aggressive_mode_takes_a_running_item_for_an_urgent_job(
    start_farm: StartFarm, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIGGERFISH_PREEMPT", "aggressive")
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [low] = c.submit(
            [_job("low", 9000, "1-2") | {"package": {"cmdline": "sleep 3", "range": "1-2"}}]
        )
        item = _running_item(c, low["id"])
        [high] = c.submit([_job("high", 1, "1")])
        assert c.wait([high["id"]], timeout=30) == {high["id"]: "complete"}
        # the urgent job did not wait for the 3 s item: that item is not complete yet
        assert c.job(low["id"])["todotally"].get("complete", 0) == 0
        _taken_back_once(c, low["id"], item, "aggressive")
