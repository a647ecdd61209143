"""Submission through the real engine: ids, pgrps, labels, all-or-nothing, big agendas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.errors import ValidationError
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def test_ids_start_at_one_and_increase(farm: Farm) -> None:
    r1 = farm.submit(job(), job())
    r2 = farm.submit(job())
    assert [j.id for j in r1.jobs] == [1, 2]
    assert [j.id for j in r2.jobs] == [3]
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [1, 2, 3]


def test_ids_are_never_reused_after_removing_the_highest_and_restarting(farm: Farm) -> None:
    farm.submit(job(), job())
    farm.submit(job())
    assert farm.control("remove", 3).results[0].status == "removed"
    assert farm.submit(job()).jobs[0].id == 4
    farm.control("remove", 4)
    farm.restart()
    assert farm.submit(job()).jobs[0].id == 5
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [1, 2, 5]


def test_pgrp_is_the_first_jobs_id(farm: Farm) -> None:
    farm.submit(job())
    resp = farm.submit(job(label="a"), job(label="b"), job())
    assert [(j.id, j.pgrp) for j in resp.jobs] == [(2, 2), (3, 2), (4, 2)]
    assert {j["pgrp"] for j in reads.list_jobs(farm.db, pgrp=2)} == {2}
    assert len(reads.list_jobs(farm.db, pgrp=2)) == 3


def test_joining_an_existing_pgrp(farm: Farm) -> None:
    farm.submit(job(label="render"))
    resp = farm.submit(job(label="comp", pgrp=1))
    assert resp.jobs[0].pgrp == 1 and resp.jobs[0].id == 2
    assert [j["label"] for j in reads.list_jobs(farm.db, pgrp=1)] == ["render", "comp"]


def test_joining_a_pgrp_that_does_not_exist_is_refused(farm: Farm) -> None:
    before = farm.last_seq()
    with pytest.raises(ValidationError) as exc:
        farm.submit(job(), job(pgrp=42))
    assert exc.value.field == "jobs[1].pgrp"
    assert reads.list_jobs(farm.db) == []
    assert farm.last_seq() == before


def test_label_taken_in_pgrp_is_refused_and_nothing_is_stored(farm: Farm) -> None:
    farm.submit(job(label="render"), job(label="comp"))
    seq = farm.last_seq()
    with pytest.raises(ValidationError) as exc:
        farm.submit(job(label="fresh", pgrp=1), job(label="comp", pgrp=1))
    assert exc.value.field == "jobs[1].label"
    assert "comp" in exc.value.message
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [1, 2]
    assert farm.last_seq() == seq  # no events added
    # the ids of the refused call were not consumed
    assert farm.submit(job()).jobs[0].id == 3


def test_label_collision_across_two_submissions_joining_the_same_pgrp(farm: Farm) -> None:
    farm.submit(job(label="render"))
    farm.submit(job(label="comp", pgrp=1))
    seq = farm.last_seq()
    with pytest.raises(ValidationError):
        farm.submit(job(label="comp", pgrp=1))
    assert len(reads.list_jobs(farm.db)) == 2
    assert farm.last_seq() == seq


def test_label_collision_between_concurrent_submissions(farm: Farm) -> None:
    """Two concurrent submissions joining one pgrp: the engine sees both before committing."""
    from triggerfish.engine import submit as sub
    from triggerfish.model.jobspec import parse_jobs

    farm.submit(job(label="render"))
    assert farm.eng is not None
    futs = [
        farm.eng.call(sub.submit, parse_jobs([job(label="comp", pgrp=1)]), "bob") for _ in range(2)
    ]
    outcomes = []
    for f in futs:
        try:
            outcomes.append(f.result(30).jobs[0].label)
        except ValidationError:
            outcomes.append("refused")
    assert sorted(outcomes) == ["comp", "refused"]
    assert sorted(j["label"] for j in reads.list_jobs(farm.db, pgrp=1)) == ["comp", "render"]


def test_same_label_in_different_pgrps_is_fine(farm: Farm) -> None:
    farm.submit(job(label="render"))
    farm.submit(job(label="render"))
    assert [j["label"] for j in reads.list_jobs(farm.db)] == ["render", "render"]


def test_label_of_a_removed_job_can_be_used_again(farm: Farm) -> None:
    farm.submit(job(label="render"), job(label="comp"))
    farm.control("remove", 2)
    assert farm.submit(job(label="comp", pgrp=1)).jobs[0].label == "comp"


def test_auto_labels_are_unique(farm: Farm) -> None:
    resp = farm.submit(job(label="job2"), job(), job())
    labels = [j.label for j in resp.jobs]
    assert labels[0] == "job2"
    assert len(set(labels)) == 3
    assert labels[2] == "job3"
    resp = farm.submit(job(pgrp=1), job(label="job5", pgrp=1))
    stored = [j["label"] for j in reads.list_jobs(farm.db, pgrp=1)]
    assert len(stored) == len(set(stored)) == 5
    assert resp.jobs[0].label != "job5"


def test_submit_stores_the_job_and_its_events(farm: Farm) -> None:
    resp = farm.submit(job("1-3", name="beauty", priority=5, cpus=2, notes="hi"), user="bob")
    j = farm.job(1)
    assert resp.jobs[0].status == "pending"
    assert (j["name"], j["user"], j["priority"], j["cpus"], j["prototype"]) == (
        "beauty",
        "bob",
        5,
        2,
        "cmdrange",
    )
    assert j["status"] == "pending" and j["todo"] == 3
    assert j["todotally"]["pending"] == 3
    assert j["fields"]["notes"] == "hi"
    assert [w["name"] for w in j["agenda"]] == ["1", "2", "3"]
    assert [w["status"] for w in j["agenda"]] == ["pending"] * 3
    assert [s["subid"] for s in j["subjobs"]] == [0, 1]
    evs = farm.events(job=1)
    assert [(e["name"], e["type"]) for e in evs] == [("submit", "job"), ("pending", "job")]
    assert evs[0]["data"]["label"] == "job1"


def test_submitted_blocked_stays_blocked_and_is_not_dispatched(farm: Farm) -> None:
    farm.submit(job("1-2", status="blocked"))
    assert farm.status(1) == "blocked"
    assert farm.names(job=1) == ["submit", "blocked"]
    farm.register("h1", 4)
    assert farm.pull("h1").assignments == []
    assert farm.status(1) == "blocked"
    assert set(farm.work_statuses(1).values()) == {"pending"}
    farm.control("unblock", 1)
    assert {a.work for a in farm.pull("h1").assignments} == {"1"}


def test_blocked_agenda_items_are_kept_and_skipped(farm: Farm) -> None:
    farm.submit(job([{"name": "a", "status": "blocked"}, "b", {"name": "c", "status": "complete"}]))
    assert farm.work_statuses(1) == {"a": "blocked", "b": "pending", "c": "complete"}
    farm.register("h1", 4)
    got = farm.pull("h1").assignments
    assert [a.work for a in got] == ["b"]
    farm.report("h1", got[0].token)
    assert farm.status(1) == "pending"  # 'a' is still blocked
    farm.control("unblock", "1:a")
    got = farm.pull("h1").assignments
    assert [a.work for a in got] == ["a"]
    farm.report("h1", got[0].token)
    assert farm.status(1) == "complete"


def test_job_with_all_items_complete_is_complete_at_once(farm: Farm) -> None:
    farm.submit(job([{"name": "a", "status": "complete"}]))
    assert farm.status(1) == "complete"


def test_ten_thousand_frames_store_ten_thousand_work_rows(farm: Farm) -> None:
    resp = farm.submit(job("1-10000"))
    assert resp.jobs[0].id == 1
    j = farm.job(1)
    assert j["todo"] == 10_000
    assert len(j["agenda"]) == reads.AGENDA_INLINE  # a job's read carries the first items
    page = reads.list_work(farm.db, 1, offset=0, limit=10_000)
    assert page is not None and page[0] == 10_000
    items = page[1]
    assert len(items) == 10_000
    assert items[0]["name"] == "1" and items[-1]["name"] == "10000"
    assert [w["seq"] for w in items[:3]] == [0, 1, 2]
    tail = reads.list_work(farm.db, 1, offset=9998, limit=5)
    assert tail is not None and [w["name"] for w in tail[1]] == ["9999", "10000"]
    farm.register("h1", 2)
    assert [a.work for a in farm.pull("h1").assignments] == ["1"]


def test_cmdline_job_without_agenda_runs_one_command_per_instance(farm: Farm) -> None:
    farm.submit({"package": {"cmdline": "sleep 1"}, "cpus": 2})
    j = farm.job(1)
    assert j["prototype"] == "cmdline" and j["agenda"] == []
    assert j["todotally"]["pending"] == 2
    farm.register("h1", 4)
    got = farm.pull("h1").assignments
    assert sorted(a.subid for a in got) == [0, 1]
    assert all(a.work is None for a in got)
    for a in got:
        farm.report("h1", a.token)
    assert farm.status(1) == "complete"
    assert [s["status"] for s in farm.job(1)["subjobs"]] == ["complete", "complete"]
