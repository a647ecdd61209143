"""Reservations and global resources in the real engine and store (engine.reserve,
engine.resources): slots and licenses taken while an instance runs, given back however it
ends, counted again from what runs after a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.api import schemas as s
from triggerfish.engine import hosts as hostverbs
from triggerfish.engine import placement, resources
from triggerfish.errors import Conflict, NotFound, ValidationError
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def _used(farm: Farm) -> dict[str, int]:
    return {r.name: r.used for r in farm.run(resources.listing)}


def _set(farm: Farm, name: str, total: int) -> s.ResourceInfo:
    return farm.run(resources.set_total, name, total, "root")


def test_two_processor_reservation_takes_both_slots(farm: Farm) -> None:
    farm.submit(job("1-3", cpus=2, reservations="host.processors=2"))
    farm.register("h1", 2)
    got = farm.pull("h1").assignments
    assert len(got) == 1  # one instance fills the 2-slot host
    assert farm.run(lambda st: st.hosts["h1"].free) == 0
    assert farm.run(lambda st: hostverbs.host_info(st.hosts["h1"]).used) == 2
    farm.report("h1", got[0].token)
    # its instance goes on with the next item; still one at a time
    assert len(farm.held["h1"]) == 1
    assert farm.run(lambda st: st.hosts["h1"].free) == 0
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert farm.run(lambda st: (st.hosts["h1"].free, st.hosts["h1"].extra)) == (2, 0)


def test_a_reservation_no_host_can_give_says_so(farm: Farm) -> None:
    farm.submit(job("1", reservations="host.processors=4"))
    farm.register("h1", 2)
    assert farm.pull("h1").assignments == []
    why = farm.run(placement.unmatched, [1])
    assert why == {1: "no host has host.processors=4 (reservations host.processors=4)"}


def test_the_only_license_runs_one_job_at_a_time(farm: Farm) -> None:
    _set(farm, "maya", 1)
    farm.submit(job("1", reservations="global.maya=1"), job("1", reservations="global.maya=1"))
    farm.register("h1", 1)
    farm.register("h2", 1)
    [a] = farm.pull("h1").assignments
    assert farm.pull("h2").assignments == []  # the license is taken
    assert _used(farm) == {"maya": 1}
    assert farm.run(placement.unmatched, [2]) == {2: "waiting for global.maya (1 of 1 in use)"}
    given = farm.report("h1", a.token).assignments  # (the freed slot is filled at once)
    [b] = given + farm.pull("h2").assignments
    assert (a.job, b.job) == (1, 2)
    farm.report(b.token and ("h1" if given else "h2"), b.token)
    assert _used(farm) == {"maya": 0}


def test_a_license_comes_back_when_the_attempt_is_lost_or_killed(farm: Farm) -> None:
    _set(farm, "nuke", 2)
    farm.submit(job("1-4", cpus=2, reservations="global.nuke=1"))
    farm.register("h1", 2)
    assert len(farm.pull("h1").assignments) == 2
    assert _used(farm) == {"nuke": 2}
    farm.run(hostverbs.mark_down, "h1")  # its attempts are lost: licenses back
    assert _used(farm) == {"nuke": 0}
    farm.register("h2", 2)
    assert len(farm.pull("h2").assignments) == 2
    farm.control("kill", 1)
    assert _used(farm) == {"nuke": 0}


def test_in_use_is_counted_again_after_a_restart(farm: Farm) -> None:
    _set(farm, "maya", 3)
    farm.submit(job("1-6", cpus=3, reservations="global.maya=1,host.processors=2"))
    farm.register("h1", 4)
    farm.register("h2", 2)
    assert len(farm.pull("h1").assignments) == 2
    assert len(farm.pull("h2").assignments) == 1
    farm.restart()
    assert _used(farm) == {"maya": 3}
    assert farm.run(lambda st: (st.hosts["h1"].free, st.hosts["h2"].free)) == (0, 0)
    [row] = farm.run(resources.listing)
    assert (row.total, row.available) == (3, 0)


def test_raising_the_total_dispatches_waiting_work_and_lowering_keeps_what_runs(
    farm: Farm,
) -> None:
    _set(farm, "maya", 1)
    farm.submit(job("1-4", cpus=4, reservations="global.maya=1"))
    farm.register("h1", 4)
    assert len(farm.pull("h1").assignments) == 1
    _set(farm, "maya", 3)
    assert len(farm.pull("h1").assignments) == 2  # two more now
    info = _set(farm, "maya", 1)  # below what runs: what runs keeps it
    assert (info.used, info.total, info.available) == (3, 1, 0)
    for a in list(farm.held["h1"].values()):
        farm.report("h1", a.token)
    assert _used(farm) == {"maya": 1}  # one instance went on (1 of 1), the others stopped
    stored = {r["name"]: r["total"] for r in farm.store.load_resources()}  # type: ignore[union-attr]
    assert stored == {"maya": 1}


def test_an_undefined_resource_is_refused_at_submission(farm: Farm) -> None:
    _set(farm, "maya", 1)
    with pytest.raises(ValidationError) as err:
        farm.submit(job("1", reservations="global.mya=1"))
    assert "jobs[0].reservations" in str(err.value) and "'mya'" in str(err.value)
    assert reads.list_jobs(farm.db) == []
    with pytest.raises(ValidationError) as err2:
        farm.submit(job("1", reservations="host.gpu=1"))
    assert "unknown resource 'host.gpu'" in str(err2.value)


def test_remove_refuses_a_resource_in_use(farm: Farm) -> None:
    _set(farm, "maya", 1)
    farm.submit(job("1", reservations="global.maya=1"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    with pytest.raises(Conflict):
        farm.run(resources.remove, "maya", "root")
    farm.report("h1", a.token)
    farm.run(resources.remove, "maya", "root")
    assert farm.run(resources.listing) == []
    with pytest.raises(NotFound):
        farm.run(resources.remove, "maya", "root")


def test_whole_host_reservation_takes_every_free_slot(farm: Farm) -> None:
    farm.submit(job("1-2", reservations="host.processors=1+"), job("1"))
    farm.register("h1", 4)
    got = farm.pull("h1").assignments
    assert [a.job for a in got] == [1]  # job 1 took all 4: job 2 waits
    farm.run_all("h1")
    assert farm.status(1) == farm.status(2) == "complete"


def test_memory_reservations_add_up_to_the_host_memory(farm: Farm) -> None:
    farm.submit(job("1-4", cpus=4, reservations="host.memory=3000"))
    farm.register("h1", 4, properties={"memory": 8000 * 2**20})
    assert len(farm.pull("h1").assignments) == 2  # 2 x 3000 MB of 8000
