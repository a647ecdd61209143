"""Control verbs on jobs (``J``), instances (``J.S``) and items (``J:NAME``), through the engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job

from triggerfish.api import schemas as s
from triggerfish.errors import Conflict, NotFound, TriggerfishError, ValidationError


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def start(farm: Farm, frames: str = "1-4", slots: int = 1, **fields: Any) -> list[s.Assignment]:
    """Submit job 1 and let host h1 take what it can; returns the assignments."""
    farm.submit(job(frames, **fields))
    farm.register("h1", slots)
    return farm.pull("h1").assignments


def finish(farm: Farm, host: str = "h1") -> None:
    farm.run_all(host)


# ---------------------------------------------------------------- kill


def test_kill_running_job(farm: Farm) -> None:
    [a] = start(farm)
    res = farm.control("kill", 1)
    assert [(r.target, r.status) for r in res.results] == [("1", "killed")]
    j = farm.job(1)
    assert j["status"] == "killed" and j["timecomplete"] is not None
    assert set(farm.work_statuses(1).values()) == {"killed"}
    assert j["todotally"]["killed"] == 4
    # only the running item gets its own events; the job gets killed + done
    assert farm.names(job=1, type_="work", work="1")[-2:] == ["killed", "done"]
    assert farm.names(job=1, type_="work", work="2") == []
    assert farm.names(job=1, type_="job")[-2:] == ["killed", "done"]
    # the worker is told to stop, and its late report is ignored
    pulled = farm.pull("h1", running=[a.token])
    assert pulled.cancel == [a.token] and pulled.assignments == []
    assert farm.report("h1", a.token).ignored == [a.token]
    assert farm.status(1) == "killed"


def test_kill_running_instance(farm: Farm) -> None:
    got = start(farm, "1-4", slots=2, cpus=2)
    by_sub = {a.subid: a for a in got}
    res = farm.control("kill", "1.1")
    assert res.results[0].status == "killed"
    j = farm.job(1)
    assert [x["status"] for x in j["subjobs"]] == ["running", "killed"]
    item = farm.work(1, by_sub[1].work or "")
    assert item["status"] == "pending"  # its item goes back to the queue
    assert farm.pull("h1", running=[a.token for a in got]).cancel == [by_sub[1].token]
    assert farm.names(job=1, type_="subjob")[-2:] == ["killed", "done"]
    # the other instance finishes the agenda alone
    finish(farm)
    assert set(farm.work_statuses(1).values()) == {"complete"}


def test_kill_running_item_frees_the_instance(farm: Farm) -> None:
    [a] = start(farm)
    farm.control("kill", "1:1")
    assert farm.work_statuses(1) == {"1": "killed", "2": "pending", "3": "pending", "4": "pending"}
    assert farm.names(job=1, type_="work", work="1")[-2:] == ["killed", "done"]
    pulled = farm.pull("h1", running=[a.token])
    assert pulled.cancel == [a.token]
    assert [x.work for x in pulled.assignments] == ["2"]
    finish(farm)
    assert farm.status(1) == "killed"  # ended with a killed item


def test_kill_pending_item(farm: Farm) -> None:
    start(farm, "1-2")
    farm.control("kill", "1:2")
    assert farm.work(1, "2")["status"] == "killed"
    assert farm.status(1) == "running"


# ---------------------------------------------------------------- block / unblock


def test_block_and_unblock_a_running_job(farm: Farm) -> None:
    [a] = start(farm)
    assert farm.control("block", 1).results[0].status == "blocked"
    assert farm.status(1) == "blocked"
    w = farm.work(1, "1")
    assert (w["status"], w["token"]) == ("pending", None)  # interrupted, back to the queue
    pulled = farm.pull("h1", running=[a.token])
    assert pulled.cancel == [a.token] and pulled.assignments == []
    assert farm.names(job=1, type_="job")[-1] == "blocked"
    assert farm.control("unblock", 1).results[0].status == "pending"
    assert farm.names(job=1, type_="job")[-1] == "pending"
    assert [x.work for x in farm.pull("h1").assignments] == ["1"]
    finish(farm)
    assert farm.status(1) == "complete"


def test_block_and_unblock_an_item(farm: Farm) -> None:
    farm.submit(job("1-3"))
    farm.control("block", "1:1")
    assert farm.work(1, "1")["status"] == "blocked"
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    assert a.work == "2"
    farm.report("h1", a.token)
    [a] = farm.pull("h1").assignments
    assert a.work == "3"
    farm.report("h1", a.token)
    assert farm.status(1) == "pending"  # item 1 still blocked
    assert farm.pull("h1").assignments == []
    assert farm.control("unblock", "1:1").results[0].status == "pending"
    finish(farm)
    assert farm.status(1) == "complete"


def test_block_running_item_interrupts_it(farm: Farm) -> None:
    [a] = start(farm, "1-2")
    farm.control("block", "1:1")
    assert farm.work(1, "1")["status"] == "blocked"
    pulled = farm.pull("h1", running=[a.token])
    assert pulled.cancel == [a.token]
    assert [x.work for x in pulled.assignments] == ["2"]


def test_block_and_unblock_an_instance(farm: Farm) -> None:
    farm.submit(job("1-4", cpus=2))
    farm.control("block", "1.1")
    farm.register("h1", 4)
    got = farm.pull("h1").assignments
    assert [a.subid for a in got] == [0]
    farm.control("unblock", "1.1")
    assert [a.subid for a in farm.pull("h1", running=[got[0].token]).assignments] == [1]


# ---------------------------------------------------------------- retry


def test_retry_failed_job(farm: Farm) -> None:
    [a] = start(farm, "1-2")
    farm.report("h1", a.token, "failed")
    finish(farm)
    assert farm.status(1) == "failed"
    assert farm.control("retry", 1).results[0].status == "pending"
    assert farm.work_statuses(1) == {"1": "pending", "2": "complete"}
    assert farm.status(1) == "pending"
    [b] = farm.pull("h1").assignments
    assert b.work == "1"
    farm.report("h1", b.token)
    assert farm.status(1) == "complete"
    assert farm.names(job=1, type_="job").count("done") == 2


def test_retry_killed_job(farm: Farm) -> None:
    start(farm, "1-2")
    farm.control("kill", 1)
    farm.control("retry", 1)
    assert set(farm.work_statuses(1).values()) == {"pending"}
    finish(farm)
    assert farm.status(1) == "complete"


def test_retry_complete_job_reruns_everything(farm: Farm) -> None:
    start(farm, "1-3")
    finish(farm)
    assert farm.status(1) == "complete"
    farm.control("retry", 1)
    assert set(farm.work_statuses(1).values()) == {"pending"}
    assert farm.status(1) == "pending"
    assert finish_count(farm) == 3
    assert farm.status(1) == "complete"


def finish_count(farm: Farm) -> int:
    return farm.run_all("h1")


def test_retry_failed_item(farm: Farm) -> None:
    [a] = start(farm, "1-2")
    farm.report("h1", a.token, "failed")
    assert farm.control("retry", "1:1").results[0].status == "pending"
    finish(farm)
    assert farm.status(1) == "complete"


def test_retry_item_of_a_complete_job_reruns_it(farm: Farm) -> None:
    start(farm, "1-2")
    finish(farm)
    farm.control("retry", "1:2")
    assert farm.work_statuses(1) == {"1": "complete", "2": "pending"}
    assert farm.status(1) == "pending"
    assert finish_count(farm) == 1
    assert farm.status(1) == "complete"


def test_retry_clears_timecomplete(farm: Farm) -> None:
    [a] = start(farm, "1")
    farm.report("h1", a.token, "failed")
    assert farm.job(1)["timecomplete"] is not None
    farm.control("retry", 1)
    assert farm.status(1) == "pending"
    assert farm.job(1)["timecomplete"] is None


# ---------------------------------------------------------------- requeue


def test_requeue_complete_job_blocks_it(farm: Farm) -> None:
    """Qube's requeue: the ended work goes back on the queue and the job is held (blocked)."""
    start(farm, "1-2")
    finish(farm)
    assert farm.control("requeue", 1).results[0].status == "blocked"
    j = farm.job(1)
    assert j["status"] == "blocked" and j["timecomplete"] is None
    assert set(farm.work_statuses(1).values()) == {"pending"}
    assert farm.names(job=1, type_="job")[-1] == "blocked"
    assert farm.pull("h1").assignments == []


def test_requeue_item(farm: Farm) -> None:
    start(farm, "1-2")
    finish(farm)
    assert farm.control("requeue", "1:1").results[0].status == "blocked"
    assert farm.work_statuses(1) == {"1": "blocked", "2": "complete"}
    assert farm.status(1) == "pending"
    assert farm.pull("h1").assignments == []
    farm.control("unblock", "1:1")
    assert finish_count(farm) == 1
    assert farm.status(1) == "complete"


def test_requeued_job_runs_again_after_unblock(farm: Farm) -> None:
    start(farm, "1-2")
    finish(farm)
    farm.control("requeue", 1)
    farm.control("unblock", 1)
    assert finish_count(farm) == 2
    assert farm.status(1) == "complete"


def test_requeue_instance_of_complete_job_does_not_complete_it_twice(farm: Farm) -> None:
    start(farm, "1-2")
    finish(farm)
    with contextlib.suppress(Conflict):  # refusing it would be fine too
        farm.control("requeue", "1.0")
    assert farm.names(job=1, type_="job").count("done") == 1


# ---------------------------------------------------------------- remove


def test_remove_job(farm: Farm) -> None:
    [a] = start(farm, "1-3")
    farm.submit(job("1"))
    assert farm.control("remove", 1).results[0].status == "removed"
    from triggerfish.store import reads

    assert reads.get_job(farm.db, 1) is None
    assert reads.get_work(farm.db, 1, "1") is None
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [2]
    names = farm.names(job=1)
    assert names[0] == "submit" and names[-1] == "removed"  # the history is kept
    removed = farm.events(job=1)[-1]
    assert removed["type"] == "job" and removed["data"]["label"] == "job1"
    pulled = farm.pull("h1", running=[a.token])
    assert pulled.cancel == [a.token]
    assert farm.report("h1", a.token).ignored == [a.token]
    with pytest.raises(NotFound):
        farm.control("kill", 1)


def test_remove_finished_job(farm: Farm) -> None:
    start(farm, "1")
    finish(farm)
    farm.control("remove", 1)
    from triggerfish.store import reads

    assert reads.get_job(farm.db, 1) is None


# ---------------------------------------------------------------- modify


def test_modify_priority_reorders_dispatch(farm: Farm) -> None:
    farm.submit(job("1"), job("1"))
    res = farm.control("modify", 2, fields={"priority": 1})
    assert res.results[0].status == "pending"
    assert farm.job(2)["priority"] == 1
    assert farm.names(job=2)[-1] == "modified"
    assert farm.events(job=2)[-1]["data"] == {"fields": ["priority"]}
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    assert a.job == 2


def test_modify_cpus_up_adds_instances(farm: Farm) -> None:
    got = start(farm, "1-6", slots=4)
    assert len(got) == 1
    farm.control("modify", 1, fields={"cpus": 3})
    j = farm.job(1)
    assert j["cpus"] == 3
    assert [x["subid"] for x in j["subjobs"]] == [0, 1, 2]
    more = farm.pull("h1", running=[got[0].token]).assignments
    assert sorted(a.subid for a in more) == [1, 2]
    finish(farm)
    assert farm.status(1) == "complete"


def test_modify_cpus_down_stops_extra_instances_after_their_item(farm: Farm) -> None:
    got = start(farm, "1-6", slots=4, cpus=3)
    assert len(got) == 3
    farm.control("modify", 1, fields={"cpus": 1})
    by_sub = {a.subid: a for a in got}
    farm.report("h1", by_sub[2].token)
    farm.report("h1", by_sub[1].token)
    assert [x["subid"] for x in farm.job(1)["subjobs"]] == [0]
    assert farm.pull("h1", running=[by_sub[0].token]).assignments == []
    farm.report("h1", by_sub[0].token)
    finish(farm)
    assert farm.status(1) == "complete"


def test_modify_placement_fields(farm: Farm) -> None:
    farm.submit(job("1", hosts=["h2"]))
    farm.register("h1", 1)
    assert farm.pull("h1").assignments == []
    farm.control("modify", 1, fields={"hosts": ["h1"], "notes": "moved"})
    assert farm.job(1)["fields"]["hosts"] == ["h1"]
    assert farm.job(1)["fields"]["notes"] == "moved"
    assert [a.job for a in farm.pull("h1").assignments] == [1]


def test_modify_label(farm: Farm) -> None:
    farm.submit(job("1", label="a"), job("1", label="b"))
    farm.control("modify", 1, fields={"label": "c"})
    assert farm.job(1)["label"] == "c"
    farm.submit(job("1", label="a", pgrp=1))  # the old label is free again


BAD_FIELDS: list[dict[str, object]] = [
    {"bogus": 1},
    {"priority": 0},
    {"priority": "high"},
    {"cpus": 0},
    {"label": "a-b"},
    {"status": "complete"},
    {"pgrp": 9},
    {},
]


def test_modify_bad_field_is_refused(farm: Farm) -> None:
    farm.submit(job("1"))
    before = farm.snapshot()
    for fields in BAD_FIELDS:
        with pytest.raises(ValidationError) as exc:
            farm.control("modify", 1, fields=fields)
        assert exc.value.field is not None and exc.value.field.startswith("fields"), fields
        assert farm.snapshot() == before, fields


def test_modify_label_collision_is_refused(farm: Farm) -> None:
    farm.submit(job("1", label="a"), job("1", label="b"))
    before = farm.snapshot()
    with pytest.raises(ValidationError) as exc:
        farm.control("modify", 2, fields={"label": "a"})
    assert exc.value.field == "fields.label"
    assert farm.snapshot() == before


def test_modify_same_label_on_two_jobs_changes_nothing(farm: Farm) -> None:
    farm.submit(job("1", label="a"), job("1", label="b"))
    before = farm.snapshot()
    with pytest.raises(ValidationError):
        farm.control("modify", 1, 2, fields={"label": "dup"})
    assert farm.snapshot() == before


def test_modify_item_or_instance_is_refused(farm: Farm) -> None:
    farm.submit(job("1-2"))
    before = farm.snapshot()
    with pytest.raises(ValidationError):
        farm.control("modify", "1:1", fields={"priority": 3})
    with pytest.raises(ValidationError):
        farm.control("modify", "1.0", fields={"priority": 3})
    assert farm.snapshot() == before


# ---------------------------------------------------------------- nonsense changes nothing


def _complete_job(farm: Farm) -> None:
    """Job 1 complete, job 2 running on h1 (item 1 of 2), job 3 pending."""
    farm.submit(job("1"))
    farm.register("h1", 1)
    finish(farm)
    farm.submit(job("1-2"))
    farm.pull("h1")
    farm.submit(job("1"))


NONSENSE: dict[type[TriggerfishError], list[tuple[s.Action, list[str]]]] = {
    Conflict: [
        ("kill", ["1"]),  # complete job
        ("kill", ["2", "1"]),  # one bad target of two
        ("kill", ["1:1"]),  # complete item
        ("unblock", ["2"]),  # running job
        ("unblock", ["3"]),  # pending job
        ("unblock", ["2:2"]),  # pending item
        ("unblock", ["2.0"]),  # running instance
        ("block", ["1"]),  # complete job
        ("block", ["3", "1"]),
        ("retry", ["3"]),  # pending job, nothing failed
        ("retry", ["2"]),  # running job, nothing failed
        ("retry", ["2:1"]),  # running item
        ("retry", ["3", "2:1"]),
        ("requeue", ["3"]),
        ("requeue", ["2:2"]),
        ("remove", ["2:1"]),  # items cannot be removed
        ("remove", ["3", "2.0"]),  # nor instances
    ],
    NotFound: [
        ("kill", ["99"]),
        ("kill", ["2", "99"]),  # one unknown target of two
        ("remove", ["3", "99"]),
        ("block", ["2.7"]),  # unknown instance
        ("block", ["2.x"]),
        ("block", ["2", "2:nope"]),  # unknown item
        ("kill", ["3", "2:nope"]),
        ("retry", ["1:nope"]),
    ],
    ValidationError: [
        ("kill", ["two"]),
        ("kill", ["2", ""]),
        ("remove", ["3", "1-2"]),
    ],
}


@pytest.mark.parametrize("error", list(NONSENSE), ids=lambda e: e.__name__)
def test_nonsense_verbs_change_nothing(farm: Farm, error: type[TriggerfishError]) -> None:
    _complete_job(farm)
    running = [w["token"] for w in farm.job(2)["agenda"] if w["status"] == "running"]
    before = farm.snapshot()
    assert before[1]["status"] == "complete"
    assert before[2]["status"] == "running"
    assert before[3]["status"] == "pending"
    for action, targets in NONSENSE[error]:
        with pytest.raises(error):
            farm.control(action, *targets)
        assert farm.snapshot() == before, (action, targets)
    # the running attempt was never touched
    assert farm.pull("h1", running=running).cancel == []
    assert farm.report("h1", running[0]).accepted == running


def test_kill_complete_job_conflict_says_why(farm: Farm) -> None:
    _complete_job(farm)
    with pytest.raises(Conflict) as exc:
        farm.control("kill", 3, 1)
    assert "1" in exc.value.message and "ended" in exc.value.message
    assert farm.status(3) == "pending"


def test_several_good_targets_all_change(farm: Farm) -> None:
    farm.submit(job("1-2"), job("1-2"), job("1-2"))
    res = farm.control("block", 1, "2:1", 3)
    assert [(r.target, r.status) for r in res.results] == [
        ("1", "blocked"),
        ("2:1", "blocked"),
        ("3", "blocked"),
    ]
    assert farm.status(1) == "blocked" and farm.status(3) == "blocked"
    assert farm.work_statuses(2) == {"1": "blocked", "2": "pending"}
