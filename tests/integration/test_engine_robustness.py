"""Bad input never reaches the database, and a failed group commit leaves no trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job

from triggerfish.engine import submit as sub
from triggerfish.errors import NotFound, StoreError, ValidationError
from triggerfish.model.jobspec import parse_jobs
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


@pytest.fixture(autouse=True)
def _quiet_engine_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="triggerfish")


def _unstorable(farm: Farm, spec: dict[str, object]) -> None:
    """Submit a job that passed validation but that no store can write (pid beyond any
    integer column), as a stand-in for any failing commit."""
    [nj] = parse_jobs([spec])
    nj.spec.pid = 2**70
    farm.run(sub.submit, [nj], "alice")


def test_failed_commit_stores_nothing_and_the_engine_goes_on(farm: Farm) -> None:
    farm.submit(job("1"))
    seq = farm.last_seq()
    with pytest.raises(StoreError):  # 2**70 fits no integer column of any store
        _unstorable(farm, job("1-3"))
    assert [j["id"] for j in reads.list_jobs(farm.db)] == [1]
    assert farm.last_seq() == seq
    resp = farm.submit(job("1-2"))
    assert resp.jobs[0].id == 2  # the failed call's id was not consumed
    farm.register("h1", 1)
    assert farm.run_all("h1") == 3
    assert farm.status(1) == "complete" and farm.status(2) == "complete"


def test_labels_of_a_failed_commit_are_free_again(farm: Farm) -> None:
    with pytest.raises(StoreError):
        _unstorable(farm, job("1", label="render"))
    resp = farm.submit(job("1", label="render"))
    assert (resp.jobs[0].id, resp.jobs[0].label) == (1, "render")


def test_huge_job_id_is_not_found(farm: Farm) -> None:
    farm.submit(job("1"))
    before = farm.snapshot()
    with pytest.raises(NotFound):
        farm.control("kill", "1", "99999999999999999999")
    assert farm.snapshot() == before


def test_job_id_beyond_int32_is_not_found(farm: Farm) -> None:
    with pytest.raises(NotFound):
        farm.control("kill", "2147483648")


def test_out_of_range_pid_is_refused_and_harms_no_other_command(farm: Farm) -> None:
    assert farm.eng is not None
    with pytest.raises(ValidationError) as exc:  # refused before it reaches the engine
        parse_jobs([job("1", pid=2**40)])
    assert exc.value.field == "jobs[0].pid"
    good = farm.eng.call(sub.submit, parse_jobs([job("1")]), "alice")
    assert good.result(30).jobs[0].id == 1


def test_a_failed_commit_of_reports_changes_nothing_and_the_engine_goes_on(farm: Farm) -> None:
    """The commit of a busy farm (updates, events, counters: one pipeline on PostgreSQL)
    fails as a whole; the report can be sent again and is taken then."""
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    seq = farm.last_seq()
    with pytest.raises(StoreError):  # 2**70 fits no integer column of any store
        farm.report("h1", a.token, status="failed", exit_code=2**70)
    assert farm.last_seq() == seq
    assert farm.work_statuses(1) == {"1": "running", "2": "pending"}
    farm.report("h1", a.token)
    assert farm.work_statuses(1)["1"] == "complete"
    assert farm.run_all("h1") == 1 and farm.status(1) == "complete"


def test_counters_written_only_when_changed_stay_right_after_a_failed_commit(farm: Farm) -> None:
    """A commit writes only the counters that changed since the last commit; one that fails
    (its counters with it) does not count as written: after a restart, new ids and event
    numbers follow the stored ones, none reused."""
    farm.submit(job("1"))
    with pytest.raises(StoreError):
        _unstorable(farm, job("1"))  # would have made job 2 (and its counter 2)
    assert farm.submit(job("1")).jobs[0].id == 2  # the same counter value, written this time
    farm.register("h1", 1)  # a commit with events only: the job id counter is unchanged
    farm.restart()
    assert farm.submit(job("1")).jobs[0].id == 3
    farm.restart()
    assert farm.submit(job("1")).jobs[0].id == 4
    seqs = [e["seq"] for e in reads.list_events(farm.db, after=0, limit=10_000)]
    assert seqs == list(range(1, len(seqs) + 1))
