"""How a host's worker ends (engine.hosts), through the real engine and store: gone when its
long poll's connection broke, signed off, marked down by hand, forgotten."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from helpers_engine import Farm, job, pull_ahead, report_ahead, wait_until

from triggerfish.api import schemas as s
from triggerfish.engine import hosts, parking
from triggerfish.engine import workers as wk
from triggerfish.engine.workers import SessionGone
from triggerfish.errors import Conflict, NotFound
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)  # a host timeout of 30 s: nothing here waits for it
    yield f
    f.stop()


def park(farm: Farm, host: str, running: list[str] | None = None) -> Future[Any]:
    answer: Future[Any] = Future()
    req = s.PullRequest(session=farm.sessions[host], running=running or [], wait=30)
    assert farm.run(parking.pull_or_park, host, req, time.time(), answer) is None
    return answer


def state_of(farm: Farm, host: str) -> str:
    return str(farm.run(lambda st: st.hosts[host].state))


def stored_state(farm: Farm, host: str) -> str | None:
    rows = {h["name"]: h for h in reads.list_hosts(farm.db)}
    return rows[host]["state"] if host in rows else None


def test_a_host_whose_long_poll_broke_is_down_in_seconds(farm: Farm) -> None:
    """Its worker died (the connection closed) and does not call in again: its host goes down
    well before the host timeout, its attempts are lost (each a `retry` event, counted) and
    its instances run on another host."""
    farm.submit(job("1-4", cpus=2))
    farm.register("h1", 2)
    got = farm.pull("h1").assignments
    assert len(got) == 2
    farm.register("h2", 2)
    answer = park(farm, "h2")
    tokens = [a.token for a in got]
    parked = park(farm, "h1", running=tokens)
    farm.run(hosts.pull_lost, "h1", farm.sessions["h1"], parked)
    assert parked.result(timeout=5) == s.PullResponse()  # taken back: it gets no more work
    assert wait_until(lambda: state_of(farm, "h1") == "down", timeout=10)
    assert stored_state(farm, "h1") == "down"
    # h2's waiting pull got both instances, in the commit that marked h1 down
    moved = answer.result(timeout=5).assignments
    assert sorted(a.work or "" for a in moved) == sorted(a.work or "" for a in got)
    for a in got:
        names = farm.names(job=1, type_="work", work=a.work)
        assert names == ["running", "retry", "pending", "running"]
        w = farm.work(1, a.work or "")
        assert (w["host"], w["retry"], w["status"]) == ("h2", 1, "running")
    [down] = [e for e in farm.events() if e["name"] == "down"]
    assert (down["host"], down["data"]["why"]) == ("h1", "gone")


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_a_worker_that_calls_in_again_within_the_grace_is_not_gone(farm: Farm) -> None:
    """A broken connection is a suspicion only: the worker's next pull (its client retries at
    once) proves it lives."""
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    parked = park(farm, "h1", running=[a.token])
    farm.run(hosts.pull_lost, "h1", farm.sessions["h1"], parked)
    park(farm, "h1", running=[a.token])  # the worker pulls again on a new connection
    time.sleep(wk.LOST_GRACE + 1.5)  # past the grace and a host check
    assert state_of(farm, "h1") == "active"
    assert "retry" not in farm.names(job=1)
    assert farm.report("h1", a.token).accepted == [a.token]


def test_a_lost_pull_seen_after_the_worker_s_next_pull_is_no_suspicion(farm: Farm) -> None:
    """The worker dropped a pull and sent another one, which the engine took first: the
    older one's loss says nothing."""
    farm.register("h1", 1)
    old = park(farm, "h1")
    new = park(farm, "h1")  # replaces it (answered empty)
    assert old.result(timeout=5) == s.PullResponse()
    farm.run(hosts.pull_lost, "h1", farm.sessions["h1"], old)
    assert farm.run(lambda st: st.hosts["h1"].lost) is None
    assert not new.done()  # still waiting: the loss of the older one took nothing back


def test_a_lost_pull_of_an_old_session_is_no_suspicion(farm: Farm) -> None:
    farm.register("h1", 1)
    old = farm.sessions["h1"]
    farm.register("h1", 1)  # the worker registered again meanwhile
    farm.run(hosts.pull_lost, "h1", old, None)
    assert farm.run(lambda st: st.hosts["h1"].lost) is None


def test_sign_off_takes_the_host_down_at_once_and_gives_it_no_more_work(farm: Farm) -> None:
    farm.submit(job("1-3", cpus=2))
    farm.register("h1", 2)
    got = farm.pull("h1").assignments
    assert len(got) == 2
    parked = park(farm, "h1", running=[a.token for a in got])
    session = farm.sessions["h1"]
    farm.run(hosts.sign_off, "h1", s.SignOffRequest(session=session))
    assert parked.result(timeout=5) == s.PullResponse()
    assert state_of(farm, "h1") == "down" and stored_state(farm, "h1") == "down"
    # it still reports what it finished while stopping; the freed slot gets nothing
    resp = farm.report("h1", got[0].token)
    assert resp.accepted == [got[0].token] and resp.assignments == []
    [made] = farm.submit(job("1")).jobs
    assert farm.status(made.id) == "pending"
    # the final sign-off: what it still held goes back to pending, counted
    farm.run(hosts.sign_off, "h1", s.SignOffRequest(session=session, final=True))
    left = got[1].work or ""
    assert farm.names(job=1, type_="work", work=left) == ["running", "retry", "pending"]
    assert farm.work(1, left)["retry"] == 1
    with pytest.raises(SessionGone):
        farm.pull("h1")
    downs = [e["data"]["why"] for e in farm.events() if e["name"] == "down"]
    assert downs == ["signed off"]


def test_mark_down_and_remove(farm: Farm) -> None:
    farm.submit(job("1"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    with pytest.raises(NotFound):
        farm.run(hosts.remove, "nope")
    with pytest.raises(Conflict, match="is active"):
        farm.run(hosts.remove, "h1")
    info = farm.run(hosts.mark_down, "h1")
    assert (info.state, info.used) == ("down", 0)
    assert farm.names(job=1, type_="work") == ["running", "retry", "pending"]
    assert farm.work(1, "1")["retry"] == 1
    farm.run(hosts.remove, "h1")
    assert stored_state(farm, "h1") is None
    assert farm.run(lambda st: "h1" in st.hosts) is False
    with pytest.raises(NotFound):
        farm.run(hosts.mark_down, "h1")
    # the worker comes back: it registers as a new host, and gets the item again
    farm.register("h1", 1)
    [b] = farm.pull("h1", running=[]).assignments
    assert b.work == "1" and b.token != a.token
    # forgotten across a restart too
    farm.run(hosts.mark_down, "h1")
    farm.run(hosts.remove, "h1")
    farm.restart()
    assert farm.run(lambda st: "h1" in st.hosts) is False


def test_a_down_host_holding_attempts_loses_them_after_the_host_timeout(db_url: str) -> None:
    """A worker that signed off but never finished (killed while stopping): what it held
    goes back to pending once it is silent past the host timeout."""
    farm = Farm(db_url, host_timeout=1.0)
    try:
        farm.submit(job("1"))
        farm.register("h1", 1)
        [a] = farm.pull("h1").assignments
        farm.run(hosts.sign_off, "h1", s.SignOffRequest(session=farm.sessions["h1"]))
        assert wait_until(lambda: farm.work(1, "1")["status"] == "pending", timeout=10)
        assert farm.names(job=1, type_="work") == ["running", "retry", "pending"]
        assert farm.report("h1", a.token).ignored == [a.token]
    finally:
        farm.stop()


def test_items_held_ahead_for_a_host_that_is_gone_go_to_another_host(farm: Farm) -> None:
    """Nothing stays tied to a host that is down: its instance, the item it ran and the items
    held ahead for it all go to another host."""
    farm.submit(job("1-10"))
    farm.register("h1")
    [first] = pull_ahead(farm, "h1").assignments
    held = report_ahead(farm, "h1", first.token, seconds=0.02).assignments
    assert len(held) > 2  # the next one running, the others held ahead for h1
    farm.register("h2")
    assert pull_ahead(farm, "h2").assignments == []  # all tied to h1 for now
    farm.run(hosts.pull_lost, "h1", farm.sessions["h1"], None)
    assert wait_until(lambda: state_of(farm, "h1") == "down", timeout=10)
    got = pull_ahead(farm, "h2").assignments
    assert [a.work for a in got] == ["2"]  # the instance, from the first item not done
    done = 1
    while got:
        done += len(got)
        got = report_ahead(farm, "h2", *(a.token for a in got), seconds=0.02).assignments
    assert farm.status(1) == "complete" and done == 10
    assert {w["host"] for w in farm.job(1)["agenda"] if w["name"] != "1"} == {"h2"}
