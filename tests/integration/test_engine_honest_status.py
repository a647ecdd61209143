"""Honest job statuses and events: a started job stays running while work is left that runs
without a person (items released one by one, retries); it goes back to pending when its
running work is taken back (lost, blocked). Real store, real engine thread, hosts by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import stuck
from triggerfish.store import reads

FRAMES = 6


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def released_one_by_one() -> list[dict[str, object]]:
    """render on host hr, and thumbs on host ht whose blocked frames a ``$f`` callback
    releases one by one as render frames complete."""
    thumbs = job(
        [{"name": str(n), "status": "blocked"} for n in range(1, FRAMES + 1)],
        label="thumbs",
        hosts=["ht"],
        callbacks=[{"triggers": "complete-work-render-$f", "code": "unblock-work-self"}],
    )
    return [job(f"1-{FRAMES}", label="render", hosts=["hr"]), thumbs]


def run_in_turn(farm: Farm) -> None:
    """render 1, thumbs 1, render 2, thumbs 2, ...: thumbs has nothing to run in between."""
    farm.register("hr", 1)
    farm.register("ht", 1)
    for frame in range(1, FRAMES + 1):
        [r] = [a for a in farm.held.get("hr", {}).values()] or farm.pull("hr").assignments
        assert (r.job, r.work) == (1, str(frame))
        farm.report("hr", r.token)
        [t] = farm.pull("ht").assignments
        assert (t.job, t.work) == (2, str(frame))
        farm.report("ht", t.token)
        assert farm.work(2, str(frame))["status"] == "complete"


def test_a_job_released_one_item_at_a_time_starts_once(farm: Farm) -> None:
    farm.submit(*released_one_by_one())
    run_in_turn(farm)
    assert farm.status(1) == farm.status(2) == "complete"
    thumbs = farm.names(job=2, type_="job")
    assert thumbs.count("running") == 1 and thumbs.count("pending") == 1
    assert thumbs == ["submit", "pending", "running", "complete", "done"]
    # every frame did run between the two: the job was never idle-pending in between
    assert farm.names(job=2, type_="work").count("running") == FRAMES


def test_a_job_whose_running_work_is_lost_is_pending_again(farm: Farm) -> None:
    farm.submit(job("1-3"))
    farm.register("h1", 1)
    [_a] = farm.pull("h1").assignments
    assert farm.status(1) == "running"
    farm.register("h1", 1)  # a restarted worker: the attempt is lost
    assert farm.status(1) == "pending"
    assert farm.names(job=1, type_="job") == ["submit", "pending", "running", "pending"]


def test_a_job_left_with_items_held_by_hand_is_pending(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.control("block", "1:2")
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token)
    assert farm.status(1) == "pending"  # nothing of it runs until a person unblocks 1:2


# ---------------------------------------------------------------- dependencies on missing jobs


@pytest.mark.parametrize(
    "dependency", ["999", "complete-job-999", "link-complete-job-999", "link-done-work-999"]
)
def test_a_dependency_on_a_job_that_does_not_exist_is_refused(farm: Farm, dependency: str) -> None:
    from triggerfish.errors import ValidationError

    farm.submit(job("1"))
    with pytest.raises(ValidationError) as err:
        farm.submit(job("1", dependency=dependency))
    assert err.value.field == "jobs[0].dependency"
    assert "job 999" in err.value.message and "does not exist" in err.value.message
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [1]  # nothing of it stored


def test_a_dependency_on_an_existing_or_sibling_job_is_accepted(farm: Farm) -> None:
    farm.submit(job("1"))
    resp = farm.submit(job("1", dependency="1"), job("1", dependency="link-complete-job-2"))
    assert [j.status for j in resp.jobs] == ["blocked", "blocked"]
    # a label no job has yet is accepted with a warning: a job may join the pgrp with it
    resp = farm.submit(job("1", dependency="link-complete-job-later"))
    assert resp.jobs[0].status == "blocked" and "later" in resp.warnings[0]
    # ... but until one does, it cannot finish (``wait`` says so rather than hang)
    assert stuck_of(farm, 4) == {
        4: "waits for complete-job-later: no job of pgrp 4 has the label 'later'"
    }


# ---------------------------------------------------------------- jobs that cannot finish


def stuck_of(farm: Farm, *ids: int) -> dict[int, str]:
    return farm.run(stuck.reasons, list(ids))


def test_a_job_behind_a_failed_upstream_cannot_finish_until_the_upstream_is_retried(
    farm: Farm,
) -> None:
    farm.submit(
        job("1", label="render"),
        job("1", label="encode", dependency="link-complete-job-render"),
        job("1", label="publish", dependency="link-complete-job-encode"),
    )
    assert stuck_of(farm, 1, 2, 3) == {}  # render may still complete
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token, "failed")
    assert farm.status(1) == "failed" and farm.status(2) == "blocked"
    why = stuck_of(farm, 1, 2, 3)
    assert set(why) == {2, 3}
    assert why[2] == "waits for complete-job-render: job 1 failed"
    assert why[3] == "waits for complete-job-encode: job 2 cannot finish"
    farm.control("retry", 1)  # a person acts: it can finish again
    assert stuck_of(farm, 2, 3) == {}


def test_a_job_held_by_hand_or_by_time_is_not_stuck(farm: Farm) -> None:
    farm.submit(job("1", status="blocked"), job("1", after="+1h"))
    assert farm.status(1) == farm.status(2) == "blocked"
    assert stuck_of(farm, 1, 2) == {}


def test_a_job_whose_blocked_items_wait_for_failed_items_cannot_finish(farm: Farm) -> None:
    farm.submit(
        job("1-2", label="render", hosts=["hr"]),
        job("1-2", label="thumbs", dependency="link-complete-work-render", hosts=["ht"]),
    )
    farm.register("hr", 1)
    farm.register("ht", 1)
    [a] = farm.pull("hr").assignments
    farm.report("hr", a.token, "failed")  # render 1 failed
    assert stuck_of(farm, 2) == {}  # thumbs 2 may still be released
    [b] = list(farm.held.get("hr", {}).values()) or farm.pull("hr").assignments
    farm.report("hr", b.token)  # render 2 complete: thumbs 2 released
    [c] = farm.pull("ht").assignments
    assert stuck_of(farm, 2) == {}  # thumbs 2 runs
    farm.report("ht", c.token)
    assert stuck_of(farm, 2) == {2: "item 1 waits for complete-work-render-1: 1:1 failed"}


def test_an_old_job_blocked_by_a_job_that_is_gone_cannot_finish(farm: Farm) -> None:
    farm.submit(job("1", status="blocked"), job("1", dependency="link-complete-job-1"))
    farm.control("remove", 1)
    assert stuck_of(farm, 2) == {2: "waits for complete-job-1: job 1 does not exist"}
