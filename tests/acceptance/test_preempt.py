"""Priorities act at every frame boundary: real supervisor and workers (docs/dispatch-priority.md).

A more urgent job submitted behind a long, less urgent one takes its slot when the running
item ends (passive preemption), unless the running job says ``preemption: none``.
"""

from __future__ import annotations

import time
from typing import Any

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
