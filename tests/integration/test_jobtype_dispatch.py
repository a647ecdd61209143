"""Job types on the supervisor (issue 18): a job whose prototype is a job type goes only to
hosts whose worker offers it, waits with a reason naming it otherwise, and a report's answer
says why an instance gets no next item (``ended``). Real engine and store, fake workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job
from helpers_engine import pull_ahead as pull
from helpers_engine import report_ahead as report

from triggerfish.api import schemas as s
from triggerfish.engine import hostlock, placement, verbs
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def maya(frames: str | None = "1-3", **fields: Any) -> dict[str, Any]:
    """A job of job type maya2024 (no command line): its agenda ``frames``, or ``agenda``."""
    package: dict[str, Any] = {"scene": "a.mb"}
    if frames is not None:
        package["range"] = frames
    return {"name": "m", "prototype": "maya2024", "package": package, **fields}


def test_a_job_type_job_goes_only_to_hosts_that_offer_it(farm: Farm) -> None:
    # the job type job is the more urgent, and alike the plain one otherwise (same dispatch
    # class but for the job type): the host without it still gets the plain job
    [mj] = farm.submit(maya("1-2", priority=1, cpus=2)).jobs
    [plain] = farm.submit(job("1-2", priority=5)).jobs
    farm.register("plain", slots=2)
    farm.register("render", slots=2, jobtypes=["nuke", "maya2024"])
    got = pull(farm, "plain", ahead=0).assignments
    assert {(a.job, a.prototype) for a in got} == {(plain.id, "cmdrange")}
    got = pull(farm, "render", ahead=0).assignments
    assert [(a.job, a.work, a.prototype) for a in got] == [
        (mj.id, "1", "maya2024"), (mj.id, "2", "maya2024")]  # fmt: skip
    assert got[0].package == {"scene": "a.mb", "range": "1-2"}


def test_a_job_no_host_offers_waits_and_says_which_type(farm: Farm) -> None:
    [mj] = farm.submit(maya(requirements="host.processors>=1")).jobs
    farm.register("plain")
    assert pull(farm, "plain", ahead=0).assignments == []
    why = farm.run(placement.unmatched, [mj.id])
    assert why == {mj.id: "no host offers job type maya2024"}
    assert placement.may_be_unmatched(farm.job(mj.id))
    # a host that offers it but does not meet the requirements: they are the reason now
    farm.register("small", slots=1, jobtypes=["maya2024"], properties={"os": "linux"})
    farm.control("modify", mj.id, fields={"requirements": "host.processors>=4"})
    assert farm.run(placement.unmatched, [mj.id]) == {
        mj.id: "no host matches requirements host.processors>=4"}  # fmt: skip
    farm.control("modify", mj.id, fields={"requirements": ""})
    assert farm.run(placement.unmatched, [mj.id]) == {}
    assert [a.work for a in pull(farm, "small", ahead=0).assignments] == ["1"]


def test_the_job_types_a_host_offers_are_stored_and_replaced(farm: Farm) -> None:
    farm.register("render", jobtypes=["maya2024", "nuke"])
    farm.register("plain")
    farm.restart()
    rows = {r["name"]: r for r in reads.list_hosts(farm.db)}
    assert rows["render"]["jobtypes"] == ["maya2024", "nuke"]
    assert rows["plain"]["jobtypes"] is None
    assert farm.run(lambda st: st.hosts["render"].jobtypes) == {"maya2024", "nuke"}
    farm.register("render", jobtypes=["houdini"])  # its worker registers again: what it says now
    [mj] = farm.submit(maya()).jobs
    assert pull(farm, "render", ahead=0).assignments == []
    assert farm.run(placement.unmatched, [mj.id]) == {
        mj.id: "no host offers job type maya2024"}  # fmt: skip
    farm.restart()
    rows = {r["name"]: r for r in reads.list_hosts(farm.db)}
    assert rows["render"]["jobtypes"] == ["houdini"]


# ---------------------------------------------------------------------- ended


def test_the_last_item_of_an_instance_ends_it_complete(farm: Farm) -> None:
    [j] = farm.submit(maya("1-3")).jobs
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    seen = []
    for _ in range(3):
        resp = report(farm, "render", a.token, ahead=0)
        seen.append(resp.ended)
        if resp.assignments:
            [a] = resp.assignments
            assert a.job == j.id
    first, second, last = seen
    assert first == {} and second == {}
    assert list(last.values()) == ["complete"] and farm.status(j.id) == "complete"


def test_an_item_held_ahead_keeps_the_instance_going(farm: Farm) -> None:
    farm.submit(maya("1-3"))
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render").assignments
    resp = report(farm, "render", a.token, seconds=0.02)  # 2 runs, 3 held behind it
    assert [x.work for x in resp.assignments] == ["2", "3"] and resp.ended == {}
    two, three = resp.assignments
    assert report(farm, "render", two.token, seconds=0.02).ended == {}  # 3 was held: it runs
    assert report(farm, "render", three.token).ended == {three.token: "complete"}


def test_a_preempted_instance_ends_pending(farm: Farm) -> None:
    farm.submit(maya("1-10", priority=9000))
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    [urgent] = farm.submit(job("1-2", priority=1)).jobs
    resp = report(farm, "render", a.token, ahead=0)
    assert resp.ended == {a.token: "pending"}
    assert [(x.job, x.work) for x in resp.assignments] == [(urgent.id, "1")]


def test_a_host_locked_meanwhile_ends_the_instance_pending(farm: Farm) -> None:
    farm.submit(maya("1-3"))
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    farm.run(hostlock.lock, "render", "root")  # what runs finishes; nothing new goes there
    resp = report(farm, "render", a.token, ahead=0)
    assert (resp.ended, resp.assignments) == ({a.token: "pending"}, [])


def test_a_suspended_job_ends_its_instance_blocked(farm: Farm) -> None:
    [j] = farm.submit(maya("1-3")).jobs
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    farm.run(verbs.control, s.ControlRequest(action="suspend", targets=[str(j.id)]))
    resp = report(farm, "render", a.token, ahead=0)
    assert a.token in resp.accepted
    assert resp.ended == {a.token: "blocked"} and resp.assignments == []


def test_blocked_items_left_end_the_instance_blocked(farm: Farm) -> None:
    [j] = farm.submit(maya(None, agenda=["1", {"name": "2", "status": "blocked"}])).jobs
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    assert a.work == "1"
    assert report(farm, "render", a.token, ahead=0).ended == {a.token: "blocked"}
    assert farm.work_statuses(j.id) == {"1": "complete", "2": "blocked"}


def test_an_ended_instance_given_new_work_of_its_own_in_the_answer_is_not_ended(
    farm: Farm,
) -> None:
    # a failed item retried at once: the same instance runs it again
    farm.submit(maya("1", retrywork=1))
    farm.register("render", jobtypes=["maya2024"])
    [a] = pull(farm, "render", ahead=0).assignments
    resp = report(farm, "render", a.token, status="failed", ahead=0)
    assert [x.work for x in resp.assignments] == ["1"] and resp.ended == {}
