"""Lookahead: the next items of an instance held for its host, through the real engine.

A worker that says ``ahead: N`` and reports short run times gets the instance's next items in
advance (``after`` set). They stay pending in the store until the end of the item before them
is processed, and then start under the token the worker already has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job
from helpers_engine import pull_ahead as pull
from helpers_engine import report_ahead as report

from triggerfish.api import schemas as s
from triggerfish.engine import ahead
from triggerfish.engine import submit as sub
from triggerfish.engine import workers as wk
from triggerfish.errors import StoreError
from triggerfish.model.jobspec import parse_jobs


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def chain(resp: s.ReportResponse) -> list[tuple[str | None, str | None, str]]:
    return [(a.work, a.after, a.token) for a in resp.assignments]


def test_short_items_bring_the_next_ones_held_and_pending(farm: Farm) -> None:
    farm.submit(job("1-10"))
    farm.register("h1")
    first = pull(farm, "h1").assignments
    assert [a.work for a in first] == ["1"] and first[0].after is None  # nothing known yet
    resp = report(farm, "h1", first[0].token, seconds=0.02)  # 20 ms: 5 ahead (100 ms of work)
    got = chain(resp)
    assert [w for w, _, _ in got] == ["2", "3", "4", "5", "6", "7"]
    # item 2 is the instance's next attempt; 3..7 each run after the one before
    assert got[0][1] is None
    assert [after for _, after, _ in got[1:]] == [t for _, _, t in got[:-1]]
    statuses = farm.work_statuses(1)
    assert statuses["2"] == "running"
    assert all(statuses[n] == "pending" for n in ("3", "4", "5", "6", "7"))
    # each was assigned to h1 when handed out (its dispatch), once
    assigned = [(e["work"], e["host"]) for e in farm.events(job=1) if e["name"] == "assigned"]
    assert assigned == [(str(n), "h1") for n in range(1, 8)]
    # held items are not handed to another host
    farm.register("h2")
    assert pull(farm, "h2").assignments == []

    # the worker ran 2 and 3 in a row and reports both in one request: 3 ran under its token
    tok = {w: t for w, _, t in got}
    resp = report(farm, "h1", tok["2"], tok["3"], seconds=0.01)
    assert resp.accepted == [tok["2"], tok["3"]] and resp.ignored == []
    statuses = farm.work_statuses(1)
    assert statuses["2"] == statuses["3"] == "complete"
    assert statuses["4"] == "running" and farm.work(1, "4")["token"] == tok["4"]
    # the events are those of any item: running, complete, done, in order; no second assigned
    assert farm.names(job=1, type_="work", work="3") == ["running", "complete", "done"]
    assert farm.names(job=1, type_="host", work="3") == ["assigned"]
    # topped up again behind the last one held
    more = chain(resp)
    assert more and more[0][1] == tok["7"]


def test_long_items_get_no_lookahead_and_old_workers_none(farm: Farm) -> None:
    farm.submit(job("1-6"), job("1-6"))
    farm.register("h1")
    farm.register("h2")
    a = pull(farm, "h1").assignments[0]
    assert [x.work for x in report(farm, "h1", a.token, seconds=0.8).assignments] == ["2"]
    b = pull(farm, "h2", ahead=0).assignments[0]
    assert [x.work for x in report(farm, "h2", b.token, seconds=0.001, ahead=0).assignments] == [
        "2"
    ]


def test_a_held_item_killed_is_withdrawn_and_the_chain_goes_on(farm: Farm) -> None:
    farm.submit(job("1-10"))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    got = chain(report(farm, "h1", first.token))
    tok = {w: t for w, _, t in got}
    farm.control("kill", "1:3")
    resp = pull(farm, "h1", running=[tok["2"]])
    assert tok["3"] in resp.cancel  # the worker drops it from its queue
    assert farm.work_statuses(1)["3"] == "killed"
    # 2 ends: 4 is claimed (3 was withdrawn)
    resp = report(farm, "h1", tok["2"])
    statuses = farm.work_statuses(1)
    assert statuses["2"] == "complete" and statuses["4"] == "running"
    assert farm.work(1, "4")["token"] == tok["4"]
    # a late report of the withdrawn one is ignored
    assert report(farm, "h1", tok["3"]).ignored == [tok["3"]]
    assert farm.work_statuses(1)["3"] == "killed"


def test_released_items_go_back_to_pending_for_other_hosts(farm: Farm) -> None:
    farm.submit(job("1-4", cpus=2))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    got = chain(report(farm, "h1", first.token, seconds=0.001))
    tok = {w: t for w, _, t in got}
    assert sorted(tok) == ["2", "3", "4"]
    # item 2 runs long on h1: the worker gives 3 and 4 back
    resp = farm.run(
        wk.report,
        "h1",
        s.ReportRequest(session=farm.sessions["h1"], release=[tok["3"]], ahead=8),
    )
    assert resp.assignments == [] and resp.cancel == []
    assert farm.work_statuses(1) == {
        "1": "complete",
        "2": "running",
        "3": "pending",
        "4": "pending",
    }
    # 2 ends: 3 is handed out afresh (a new token), no longer held
    got = report(farm, "h1", tok["2"]).assignments
    assert got[0].work == "3" and got[0].after is None and got[0].token != tok["3"]


def test_blocking_the_job_or_registering_again_withdraws_what_is_held(farm: Farm) -> None:
    farm.submit(job("1-8"))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    tok = {w: t for w, _, t in chain(report(farm, "h1", first.token))}
    farm.control("block", 1)
    resp = pull(farm, "h1", running=[tok["2"]])
    assert set(resp.cancel) >= {tok[n] for n in ("2", "3", "4", "5")}
    farm.control("unblock", 1)
    assert all(st in ("pending", "complete") for st in farm.work_statuses(1).values())
    farm.register("h1")  # a new session: nothing held any more
    got = pull(farm, "h1").assignments
    assert [a.work for a in got] == ["2"]
    tok = {w: t for w, _, t in chain(report(farm, "h1", got[0].token))}
    assert tok["3"] and tok["4"] and tok["5"]  # 3 runs, 4.. held behind it
    farm.register("h1")  # again: the worker is told to drop what it held
    resp = pull(farm, "h1")
    assert {a.work for a in resp.assignments} == {"3"}  # 3 was lost with the old session
    assert {tok[n] for n in ("4", "5")} <= set(resp.cancel)


def _held_behind_2(farm: Farm) -> dict[str, str]:
    """Job 1 (frames 1-6, two instances) on h1: 1 ended quickly, 2 runs, 3..6 are held behind
    it; the tokens."""
    farm.submit(job("1-6", cpus=2))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    tok = {w: t for w, _, t in chain(report(farm, "h1", first.token))}
    assert sorted(tok) == ["2", "3", "4", "5", "6"]
    held = farm.work(1, "3")  # written down with the commit that handed it out
    assert (held["status"], held["token"], held["host"]) == ("pending", tok["3"], "h1")
    return tok


def _word_then_run(farm: Farm, tok: dict[str, str]) -> None:
    """h1's reports wait for its word; it says it runs 2 and holds 4, 3, 5 (in that order:
    its order wins) but not 6 (the answer carrying it was lost): 6 goes back, the others run
    on h1, once each, under the tokens it has."""
    farm.register("h2")
    assert pull(farm, "h2").assignments == []  # held for h1
    with pytest.raises(ahead.Unheard):
        report(farm, "h1", tok["2"])
    resp = pull(farm, "h1", running=[tok["2"]], queued=[tok["4"], tok["3"], tok["5"]])
    assert resp.cancel == [tok["6"]] and resp.assignments == []
    assert farm.work(1, "6")["token"] is None and farm.work(1, "3")["token"] == tok["3"]
    got = pull(farm, "h2").assignments
    assert [a.work for a in got] == ["6"] and got[0].token != tok["6"]
    for n, nxt in (("2", "4"), ("4", "3"), ("3", "5"), ("5", None)):
        resp = report(farm, "h1", tok[n], seconds=0.8)  # (long: nothing more is held)
        assert resp.accepted == [tok[n]] and resp.assignments == [] and resp.cancel == []
        if nxt is not None:
            assert farm.work(1, nxt)["status"] == "running"
            assert farm.work(1, nxt)["token"] == tok[nxt]
    assert report(farm, "h2", got[0].token).accepted == [got[0].token]
    assert farm.status(1) == "complete"
    for n in "123456":  # run once each; 6 was handed to h1 (lost on the way), then to h2
        assert farm.names(job=1, type_="work", work=n) == ["running", "complete", "done"]
        hosts = [e["host"] for e in farm.events(job=1) if (e["name"], e["work"]) == ("assigned", n)]
        assert hosts == (["h1", "h2"] if n == "6" else ["h1"])
        assert farm.work(1, n)["retry"] == 0


def test_held_items_stay_held_across_a_restart_in_the_workers_order(farm: Farm) -> None:
    tok = _held_behind_2(farm)
    farm.restart()
    statuses = farm.work_statuses(1)
    assert statuses["2"] == "running" and all(statuses[n] == "pending" for n in "3456")
    _word_then_run(farm, tok)


def test_held_items_stay_held_across_an_engine_reload(
    farm: Farm, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed commit reloads the state from the store: the holds come back with it, and a
    pull that reached the supervisor before the reload is not taken as the worker's word."""
    caplog.set_level(logging.CRITICAL, logger="triggerfish")
    tok = _held_behind_2(farm)
    before = time.time()
    [nj] = parse_jobs([job("1")])
    nj.spec.pid = 2**70  # no store can write it: the commit fails, the engine reloads
    with pytest.raises(StoreError):
        farm.run(sub.submit, [nj], "alice")
    req = s.PullRequest(session=farm.sessions["h1"], running=[tok["2"]], wait=0, ahead=8)
    with pytest.raises(ahead.Unheard):
        farm.run(wk.pull, "h1", req, before)
    _word_then_run(farm, tok)


def test_a_worker_that_restarted_with_its_session_gone_gets_no_held_item(farm: Farm) -> None:
    tok = _held_behind_2(farm)
    farm.restart()
    farm.register("h1")  # a new session: it holds nothing of the old one
    resp = pull(farm, "h1")
    assert [a.work for a in resp.assignments] == ["2"]  # 2 was lost with the old session
    assert resp.assignments[0].token != tok["2"]
    assert farm.work(1, "2")["retry"] == 1
    assert {tok[n] for n in "3456"} <= set(resp.cancel)


def test_instances_hold_only_an_even_share_of_what_is_pending(farm: Farm) -> None:
    farm.submit(job("1-6", cpus=2))
    farm.register("h1")
    farm.register("h2")
    a1 = pull(farm, "h1").assignments[0]
    a2 = pull(farm, "h2").assignments[0]
    assert (a1.work, a2.work) == ("1", "2")
    # 1 ends: h1 runs 3; of 4, 5, 6 it may hold 3 // 2 running instances = 1
    got = report(farm, "h1", a1.token, seconds=0.001).assignments
    assert [(a.work, a.after is not None) for a in got] == [("3", False), ("4", True)]
    # 2 ends: h2 runs 5; 6 is left for whichever instance ends first (1 free // 2 = 0)
    got = report(farm, "h2", a2.token, seconds=0.001).assignments
    assert [(a.work, a.after is not None) for a in got] == [("5", False)]
    assert farm.work_statuses(1)["6"] == "pending"


def test_items_a_callback_waits_on_are_marked_watched(farm: Farm) -> None:
    link = {"triggers": "complete-work-ribgen-$f", "code": "unblock-work-self"}
    blocked = [{"name": str(n), "status": "blocked"} for n in range(1, 4)]
    farm.submit(job("1-3", label="ribgen"), job(blocked, label="render", callbacks=[link]))
    farm.submit(job("1-3", label="other"))
    farm.register("h1", 3)
    got = {(a.job, a.work): a.watched for a in pull(farm, "h1").assignments}
    # render's callback waits on ribgen's items (its own and the other job's are not watched)
    assert got[(1, "1")] is True
    assert all(w is False for (j, _), w in got.items() if j != 1)


def test_items_a_callback_waits_on_are_not_held_ahead(farm: Farm) -> None:
    link = {"triggers": "complete-work-ribgen-$f", "code": "unblock-work-self"}
    blocked = [{"name": str(n), "status": "blocked"} for n in range(1, 7)]
    farm.submit(job("1-6", label="ribgen"), job(blocked, label="render", callbacks=[link]))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    assert (first.job, first.work, first.watched) == (1, "1", True)
    got = report(farm, "h1", first.token, seconds=0.001).assignments
    # ribgen 2 next (render 1 is unblocked but ribgen came first), nothing held behind it
    assert [(a.job, a.work, a.after) for a in got] == [(1, "2", None)]


def test_killing_the_running_item_gives_back_what_is_held_behind_it(farm: Farm) -> None:
    farm.submit(job("1-8"))
    farm.register("h1")
    first = pull(farm, "h1").assignments[0]
    tok = {w: t for w, _, t in chain(report(farm, "h1", first.token))}
    farm.control("kill", "1:2")  # the running one; 3.. were held behind it
    resp = pull(farm, "h1", running=[])
    assert {tok[n] for n in ("3", "4", "5")} <= set(resp.cancel)
    # the instance is free again and nothing is held: the next item starts afresh
    fresh = [a for a in resp.assignments if a.after is None]
    assert fresh and fresh[0].work == "3" and fresh[0].token != tok["3"]
    assert farm.work_statuses(1)["2"] == "killed"
    # the worker's late reports of the withdrawn ones change nothing
    assert report(farm, "h1", tok["4"]).ignored == [tok["4"]]
