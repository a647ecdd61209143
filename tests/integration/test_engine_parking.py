"""Parked pulls (engine.parking) through the real engine and store: a worker's pull that found
nothing waits in the engine and is served by the batch that makes work for it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from helpers_engine import Farm, job, wait_until

from triggerfish.api import schemas as s
from triggerfish.engine import parking
from triggerfish.engine.workers import SessionGone
from triggerfish.errors import StoreError


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def park(farm: Farm, host: str, running: list[str] | None = None) -> Future[Any]:
    """A long poll of ``host`` that finds nothing: parked, its answer to come in the future."""
    answer: Future[Any] = Future()
    req = s.PullRequest(session=farm.sessions[host], running=running or [], wait=30)
    assert farm.run(parking.pull_or_park, host, req, 0.0, answer) is None
    assert not answer.done()
    return answer


def unpark(
    farm: Farm, host: str, answer: Future[Any], running: list[str] | None = None
) -> s.PullResponse | None:
    """The long poll's time is up (it sends the same request again, as the server does)."""
    req = s.PullRequest(session=farm.sessions[host], running=running or [], wait=30)
    got: s.PullResponse | None = farm.run(parking.unpark, host, req, 0.0, answer)
    return got


def test_a_parked_pull_gets_the_work_in_the_commit_that_made_it(farm: Farm) -> None:
    farm.register("h1")
    answer = park(farm, "h1")
    assert farm.eng is not None
    commits = farm.eng.commits
    [made] = farm.submit(job("1")).jobs
    assert farm.eng.commits == commits + 1  # one commit: the job, and its claim by h1
    got = answer.result(timeout=5)
    [a] = got.assignments
    assert (a.job, a.work) == (made.id, "1")
    stored = farm.work(made.id, "1")
    assert (stored["status"], stored["host"], stored["token"]) == ("running", "h1", a.token)
    assert farm.status(made.id) == "running"
    # served: it is no longer parked, so its time running out hands back nothing more
    assert unpark(farm, "h1", answer) is None
    farm.report("h1", a.token)
    assert farm.status(made.id) == "complete"


def test_a_pull_without_a_free_slot_stays_parked_and_one_with_a_slot_is_served(
    farm: Farm,
) -> None:
    farm.register("busy")
    farm.register("idle")
    farm.submit(job("1"))
    [running] = farm.pull("busy").assignments
    busy = park(farm, "busy", [running.token])
    idle = park(farm, "idle")
    [second] = farm.submit(job("1")).jobs
    assert [a.job for a in idle.result(timeout=5).assignments] == [second.id]
    assert not busy.done()
    # its time is up: the heartbeat answer, nothing new
    got = unpark(farm, "busy", busy, [running.token])
    assert got is not None and (got.assignments, got.cancel) == ([], [])
    assert not busy.done()


def test_a_parked_pull_is_told_at_once_to_cancel_what_was_killed(farm: Farm) -> None:
    farm.register("h1")
    [made] = farm.submit(job("1")).jobs
    [a] = farm.pull("h1").assignments
    answer = park(farm, "h1", [a.token])
    farm.control("kill", made.id)
    got = answer.result(timeout=5)
    assert (got.assignments, got.cancel) == ([], [a.token])


def test_work_a_callback_makes_in_the_same_batch_reaches_a_parked_pull(farm: Farm) -> None:
    """h1 reports the upstream job; its dependency callback releases the downstream job in
    that batch; h2, parked, gets it with the same commit."""
    farm.register("h1")
    farm.register("h2")
    farm.submit(job("1", label="a"), job("1", label="b", dependency="link-complete-job-a"))
    [up] = farm.pull("h1").assignments
    waiting = park(farm, "h2")
    farm.report("h1", up.token)
    got = waiting.result(timeout=5)
    assert [a.job for a in got.assignments] == [2]
    assert farm.work(2, "1")["host"] == "h2"


def test_a_new_pull_of_the_host_lets_the_parked_one_go_empty(farm: Farm) -> None:
    farm.register("h1")
    first = park(farm, "h1")
    second = park(farm, "h1")
    assert first.result(timeout=5) == s.PullResponse()
    assert unpark(farm, "h1", first) is None  # no longer the one parked
    farm.submit(job("1"))
    assert len(second.result(timeout=5).assignments) == 1


def test_a_parked_pull_of_a_replaced_session_is_refused(farm: Farm) -> None:
    farm.register("h1")
    answer = park(farm, "h1")
    farm.register("h1")  # the worker restarted: a new session
    farm.submit(job("1"))
    with pytest.raises(SessionGone):
        answer.result(timeout=5)
    # the new session's pull gets the work
    assert len(farm.pull("h1").assignments) == 1


def test_taken_back_before_any_work_it_answers_and_work_waits_for_the_next_pull(
    farm: Farm,
) -> None:
    farm.register("h1")
    answer = park(farm, "h1")
    got = unpark(farm, "h1", answer)
    assert got is not None and got.assignments == []
    [made] = farm.submit(job("1")).jobs
    assert not answer.done()  # not served: it was no longer parked
    assert farm.status(made.id) == "pending"
    assert [a.job for a in farm.pull("h1").assignments] == [made.id]


def test_stopping_the_engine_answers_parked_pulls(farm: Farm) -> None:
    farm.register("h1")
    answer = park(farm, "h1")
    farm.stop()
    with pytest.raises(StoreError):
        answer.result(timeout=5)


def test_a_host_marked_down_gets_no_work_through_its_parked_pull(db_url: str) -> None:
    """A host silent past the timeout is down even if a pull of it is parked (its worker may
    be gone): the work waits; when the pull is taken back (the worker is alive after all),
    that pull brings the host up and gets the work."""
    farm = Farm(db_url, host_timeout=0.5)
    try:
        farm.register("h1")
        answer = park(farm, "h1")
        assert wait_until(lambda: farm.run(lambda st: st.hosts["h1"].state) == "down")
        [made] = farm.submit(job("1")).jobs
        assert not answer.done()
        assert farm.status(made.id) == "pending"
        got = unpark(farm, "h1", answer)
        assert got is not None and [a.job for a in got.assignments] == [made.id]
    finally:
        farm.stop()


def test_a_parked_host_that_found_nothing_gets_what_it_can_run_when_it_comes(farm: Farm) -> None:
    """A parked host that found nothing it could run is not asked again for work alike, but
    it is served when work it can run comes: a license given back, a job of a new kind."""
    from triggerfish.engine import resources

    farm.run(resources.set_total, "maya", 1, "root")
    farm.register("gpu", properties={"gpu": "a100", "site": "ny"})
    farm.register("cpu", properties={"site": "lon"})
    farm.submit(job("1", reservations="global.maya=1"))
    [held] = farm.pull("gpu").assignments  # the only maya license
    cpu = park(farm, "cpu")
    # one waits for the license (and runs in lon only), one needs a gpu: nothing for cpu
    waiting, _ = farm.submit(job("1", reservations="global.maya=1", requirements="host.site=lon"),
                             job("1", requirements="host.gpu=a100")).jobs  # fmt: skip
    farm.submit(job("1", requirements="host.gpu=a100"))  # (alike: cpu is not asked again)
    assert not cpu.done()
    farm.report("gpu", held.token)  # the license comes back: cpu takes the waiting job
    [got] = cpu.result(timeout=5).assignments
    assert got.job == waiting.id
    cpu = park(farm, "cpu", [got.token])
    farm.report("cpu", got.token)  # (a slot of its own frees: it is served at once, nothing)
    cpu = park(farm, "cpu")
    [plain] = farm.submit(job("1")).jobs  # a new kind of job, which it can run
    assert [a.job for a in cpu.result(timeout=5).assignments] == [plain.id]
