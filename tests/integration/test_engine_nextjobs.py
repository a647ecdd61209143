"""The next jobs held behind a slot (engine.nextjobs), through the real engine.

A worker that accepts lookahead and reports short run times gets, behind the job it runs next,
the next runnable jobs of one item each (tasks, single-frame jobs) with ``after`` set. They
stay pending in the store until the end of the attempt before them is processed, and then
start under the token the worker already has.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job
from helpers_engine import pull_ahead as pull
from helpers_engine import report_ahead as report

from triggerfish.api import schemas as s
from triggerfish.engine import ahead, nextjobs


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def handed(resp: s.ReportResponse | s.PullResponse) -> list[tuple[int, str | None, str]]:
    """(job, after, token) of each assignment, in order."""
    return [(a.job, a.after, a.token) for a in resp.assignments]


def singles(farm: Farm, n: int, **fields: object) -> None:
    farm.submit(*[job("1", **fields) for _ in range(n)])


def first_ends(farm: Farm) -> dict[int, str]:
    """h1 (registered) takes the first job and reports it ended quickly: the token of each job
    it was handed in the answer (the next one, and those held behind it)."""
    first = pull(farm, "h1").assignments[0]
    return {j: t for j, _, t in handed(report(farm, "h1", first.token))}


def test_short_jobs_bring_the_next_jobs_held_and_pending(farm: Farm) -> None:
    singles(farm, 6)
    farm.register("h1")
    first = pull(farm, "h1").assignments
    assert [(a.job, a.after) for a in first] == [(1, None)]  # nothing known of run times yet
    got = handed(report(farm, "h1", first[0].token, seconds=0.02))  # 20 ms: 5 wanted
    # job 2 is dispatched as usual; 3..6 (all that is left, fewer than 5) are held behind it,
    # each after the one before
    assert [j for j, _, _ in got] == [2, 3, 4, 5, 6]
    assert got[0][1] is None
    assert [after for _, after, _ in got[1:]] == [t for _, _, t in got[:-1]]
    assert farm.status(2) == "running"
    assert all(farm.status(j) == "pending" for j in (3, 4, 5, 6))
    # each was assigned to h1 when handed out (its dispatch), once
    for j in range(1, 7):
        assert [e["host"] for e in farm.events(job=j) if e["name"] == "assigned"] == ["h1"]
    # held jobs are nobody else's
    farm.register("h2")
    assert pull(farm, "h2").assignments == []

    # the worker ran 2 and 3 in a row and reports both at once: 3 ran under its token
    tok = {j: t for j, _, t in got}
    resp = report(farm, "h1", tok[2], tok[3], seconds=0.01)
    assert resp.accepted == [tok[2], tok[3]] and resp.ignored == []
    assert farm.status(2) == farm.status(3) == "complete"
    assert farm.status(4) == "running" and farm.work(4, "1")["token"] == tok[4]
    # the events of a held job are those of any: running, complete, done; no second assigned
    assert farm.names(job=3, type_="work") == ["running", "complete", "done"]
    assert farm.names(job=3, type_="host") == ["assigned"]
    assert resp.assignments == []  # nothing is left to hold
    # the rest of the chain runs and ends as any job does
    report(farm, "h1", tok[4], tok[5], tok[6])
    assert [farm.status(j) for j in range(1, 7)] == ["complete"] * 6


def test_long_jobs_and_workers_without_lookahead_get_nothing_held(farm: Farm) -> None:
    singles(farm, 6)
    farm.register("h1")
    farm.register("h2")
    a = pull(farm, "h1").assignments[0]
    assert [x.job for x in report(farm, "h1", a.token, seconds=0.8).assignments] == [2]
    b = pull(farm, "h2", ahead=0).assignments[0]
    assert b.job == 3
    assert [x.job for x in report(farm, "h2", b.token, seconds=0.001, ahead=0).assignments] == [4]


def test_a_held_job_killed_is_withdrawn_and_the_chain_goes_on(farm: Farm) -> None:
    singles(farm, 6)
    farm.register("h1")
    tok = first_ends(farm)
    farm.control("kill", 4)
    resp = pull(farm, "h1", running=[tok[2]])
    assert tok[4] in resp.cancel  # the worker drops it from its queue
    assert farm.status(4) == "killed"
    assert "running" not in farm.names(job=4, type_="work")  # it never ran
    # 2 and 3 end: 5 is claimed (4 was withdrawn)
    report(farm, "h1", tok[2], tok[3])
    assert farm.status(5) == "running" and farm.work(5, "1")["token"] == tok[5]
    # a late report of the withdrawn one is ignored
    assert report(farm, "h1", tok[4]).ignored == [tok[4]]


def test_released_jobs_go_back_to_pending_for_other_hosts(farm: Farm) -> None:
    singles(farm, 5)
    farm.register("h1")
    tok = first_ends(farm)
    assert set(tok) == {2, 3, 4, 5}
    # job 2 runs long on h1: the worker gives back what it holds behind it
    resp = report(farm, "h1", release=[tok[3], tok[4], tok[5]])
    assert resp.accepted == [] and resp.cancel == []
    assert all(farm.status(j) == "pending" for j in (3, 4, 5))
    farm.register("h2")
    got = pull(farm, "h2").assignments
    assert [a.job for a in got] == [3] and got[0].token not in tok.values()
    # 2 ends on h1: it takes the next one as usual, nothing left of its old chain
    resp = report(farm, "h1", tok[2], seconds=0.8)
    assert [(a.job, a.after) for a in resp.assignments] == [(4, None)]


def test_a_lost_or_stopped_attempt_gives_back_the_jobs_held_behind_it(farm: Farm) -> None:
    singles(farm, 8)
    farm.register("h1")
    tok = first_ends(farm)
    assert set(tok) == {2, 3, 4, 5, 6, 7, 8}
    farm.control("kill", 2)  # the running one: the worker would go on to 3 on its own
    resp = pull(farm, "h1", running=[])
    assert {tok[j] for j in range(3, 9)} <= set(resp.cancel)
    # nothing is held: the next job starts afresh under a new token
    fresh = [a for a in resp.assignments if a.after is None]
    assert [a.job for a in fresh] == [3] and fresh[0].token != tok[3]
    assert all(farm.status(j) == "pending" for j in range(4, 9))
    # registering again (a restarted worker) gives back what is held too
    tok = {j: t for j, _, t in handed(report(farm, "h1", fresh[0].token))}
    assert set(tok) == {4, 5, 6, 7, 8}
    farm.register("h1")
    assert all(farm.status(j) == "pending" for j in range(4, 9))  # 4 was lost: pending again
    farm.register("h2")
    assert [a.job for a in pull(farm, "h2").assignments] == [4]


def test_held_jobs_stay_held_for_their_host_across_a_restart(farm: Farm) -> None:
    # a task run twice may do its work twice: the hold is written down, and a restarted
    # supervisor leaves the job to the worker that may have started it from its queue
    singles(farm, 4)
    farm.register("h1")
    tok = first_ends(farm)
    assert set(tok) == {2, 3, 4}
    held = farm.work(3, "1")
    assert (held["status"], held["token"], held["host"]) == ("pending", tok[3], "h1")
    farm.restart()
    assert farm.status(2) == "running" and all(farm.status(j) == "pending" for j in (3, 4))
    farm.register("h2")
    assert pull(farm, "h2").assignments == []  # 3 and 4 are h1's
    # its reports wait for its word on what it holds (the first pull since the restart)
    with pytest.raises(ahead.Unheard):
        report(farm, "h1", tok[2])
    # h1 lists 3 (it started it when 2 ended) and 4, queued: 3 runs under its token, nothing
    # is cancelled
    resp = pull(farm, "h1", running=[tok[2], tok[3]], queued=[tok[4]])
    assert resp.cancel == [] and resp.assignments == []
    assert farm.status(3) == "running" and farm.work(3, "1")["token"] == tok[3]
    report(farm, "h1", tok[2], tok[3])
    # 4 is reported without having been listed as running: it ran too
    assert report(farm, "h1", tok[4]).accepted == [tok[4]]
    assert [farm.status(j) for j in (2, 3, 4)] == ["complete"] * 3
    for j in (3, 4):  # assigned once, to h1; run once
        assert [e["host"] for e in farm.events(job=j) if e["name"] == "assigned"] == ["h1"]
        assert farm.names(job=j, type_="work") == ["running", "complete", "done"]


def test_holds_read_back_go_back_when_their_worker_says_nothing_of_them(
    farm: Farm, monkeypatch: pytest.MonkeyPatch
) -> None:
    singles(farm, 4)
    farm.register("h1")
    tok = first_ends(farm)
    monkeypatch.setattr(nextjobs, "ADOPT_GRACE", 0.0)  # (15 s by default)
    farm.restart()
    resp = pull(farm, "h1", running=[tok[2]])  # the worker had lost its queue
    assert {tok[3], tok[4]} <= set(resp.cancel)
    assert farm.work(3, "1")["token"] is None and farm.work(3, "1")["host"] is None
    farm.register("h2")
    got = pull(farm, "h2").assignments
    assert [a.job for a in got] == [3] and got[0].token != tok[3]


def test_each_slot_holds_only_an_even_share_of_the_runnable_jobs(farm: Farm) -> None:
    singles(farm, 10)
    farm.register("h1")
    farm.register("h2")
    a1 = pull(farm, "h1").assignments[0]
    a2 = pull(farm, "h2").assignments[0]
    assert (a1.job, a2.job) == (1, 2)
    # h1 ends quickly: job 3 next, and 7 runnable jobs left for 2 active slots: 3 held
    got = handed(report(farm, "h1", a1.token, seconds=0.001))
    assert [(j, after is None) for j, after, _ in got] == [(3, True), (4, False), (5, False),
                                                           (6, False)]  # fmt: skip
    got = handed(report(farm, "h2", a2.token, seconds=0.001))
    # h2: job 7, then 3 runnable (8, 9, 10) // 2 slots: 1 held
    assert [(j, after is None) for j, after, _ in got] == [(7, True), (8, False)]


def test_jobs_a_callback_waits_on_and_multi_item_jobs_are_not_held(farm: Farm) -> None:
    farm.submit(job("1"), job("1"), job("1", label="up"), job("1"),
                job("1", dependency="link-complete-job-up"))  # fmt: skip
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    got = handed(report(farm, "h1", first.token, seconds=0.001))
    # job 2, and nothing behind it: the next one (3) has a callback waiting on its end
    assert [(j, after) for j, after, _ in got] == [(2, None)]
    farm.control("remove", 5)
    farm.submit(job("1-3"), job("1"))  # 6 has three items
    got = handed(report(farm, "h1", got[0][2], seconds=0.001))
    assert [(j, after is None) for j, after, _ in got] == [(3, True), (4, False)]


def test_modifying_a_held_job_withdraws_the_hold(farm: Farm) -> None:
    singles(farm, 4)
    farm.register("h1")
    tok = first_ends(farm)
    assert set(tok) == {2, 3, 4}
    farm.control("modify", 3, fields={"omithosts": ["h1"]})
    resp = pull(farm, "h1", running=[tok[2]])
    assert tok[3] in resp.cancel and farm.status(3) == "pending"
    farm.register("h2")
    assert [a.job for a in pull(farm, "h2").assignments] == [3]
    # h1 goes on with 4 after 2, as held
    report(farm, "h1", tok[2])
    assert farm.status(4) == "running" and farm.work(4, "1")["token"] == tok[4]
