"""Reports, retries, sessions and lost work, through the real engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from helpers_engine import Farm, job, wait_until

from triggerfish.api import schemas as s
from triggerfish.engine import workers as wk
from triggerfish.engine.workers import SessionGone
from triggerfish.store import reads


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


@pytest.fixture
def quick_farm(db_url: str) -> Iterator[Farm]:
    """A farm whose hosts time out after a second of silence."""
    f = Farm(db_url, host_timeout=1.0)
    yield f
    f.stop()


# ---------------------------------------------------------------- complete


def test_job_completes_when_all_items_complete(farm: Farm) -> None:
    farm.submit(job("1-3", cpus=3))
    farm.register("h1", 3)
    got = farm.pull("h1").assignments
    assert len(got) == 3
    for a in got[:2]:
        resp = farm.report("h1", a.token, result={"frames": 1})
        assert resp.accepted == [a.token] and resp.ignored == []
        assert farm.status(1) == "running"
    farm.report("h1", got[2].token)
    j = farm.job(1)
    assert j["status"] == "complete"
    assert j["timecomplete"] is not None
    assert j["todotally"]["complete"] == 3
    assert all(w["status"] == "complete" and w["exit_code"] == 0 for w in j["agenda"])
    assert j["agenda"][0]["result"] == {"frames": 1}
    assert all(w["token"] is None for w in j["agenda"])
    for name in ("1", "2", "3"):
        assert farm.names(job=1, type_="work", work=name) == ["running", "complete", "done"]
    job_events = farm.names(job=1, type_="job")
    assert job_events[-2:] == ["complete", "done"]
    assert job_events.count("complete") == 1
    done = [e for e in farm.events(job=1) if e["name"] == "done" and e["type"] == "job"]
    assert done[0]["data"] == {"status": "complete"}


def test_failed_item_without_retries_fails_the_job_at_the_end(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token, "failed", exit_code=3, error="boom")
    w = farm.work(1, "1")
    assert (w["status"], w["exit_code"], w["result"]) == ("failed", 3, {"error": "boom"})
    assert farm.status(1) == "running"  # item 2 follows on the same instance
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token)
    assert farm.status(1) == "failed"
    assert farm.names(job=1, type_="job")[-2:] == ["failed", "done"]
    failed = [e for e in farm.events(job=1) if e["name"] == "failed" and e["type"] == "work"]
    assert failed[0]["data"] == {"exit_code": 3, "error": "boom"}


def test_retrywork_retries_then_fails(farm: Farm) -> None:
    farm.submit(job("1", retrywork=2))
    farm.register("h1", 1)
    tokens = []
    for attempt in range(3):
        [a] = farm.pull("h1").assignments
        assert a.work == "1"
        tokens.append(a.token)
        farm.report("h1", a.token, "failed", exit_code=1)
        w = farm.work(1, "1")
        if attempt < 2:
            # retried at once: the same instance takes it again on the same host
            assert w["status"] == "running" and w["retry"] == attempt + 1
            assert w["token"] not in tokens
    assert len(set(tokens)) == 3  # each attempt has its own token
    w = farm.work(1, "1")
    assert (w["status"], w["retry"]) == ("failed", 2)
    assert farm.names(job=1, type_="work") == [
        "running",
        "retry",
        "running",
        "retry",
        "running",
        "failed",
        "done",
    ]
    assert farm.status(1) == "failed"
    assert farm.names(job=1, type_="job")[-2:] == ["failed", "done"]


def test_retry_that_succeeds_completes_the_job(farm: Farm) -> None:
    farm.submit(job("1", retrywork=3))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token, "failed")
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token)
    assert farm.status(1) == "complete"
    assert farm.work(1, "1")["retry"] == 1
    assert "failed" not in farm.names(job=1)


def test_retrywork_delay_holds_the_item_back(farm: Farm) -> None:
    delay = 0.6
    farm.submit(job("1", retrywork=1, retrywork_delay=delay))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    t0 = time.monotonic()
    farm.report("h1", a.token, "failed")
    w = farm.work(1, "1")
    assert w["status"] == "retrying" and w["retry"] == 1 and w["retry_at"] is not None
    assert farm.job(1)["todotally"]["retrying"] == 1
    assert farm.status(1) == "running"  # started: a retry does not make it pending again
    assert farm.pull("h1").assignments == []
    got: list[str] = []

    def dispatched() -> bool:
        got.extend(a.work or "" for a in farm.pull("h1").assignments)
        return bool(got)

    assert wait_until(dispatched, timeout=10)
    assert time.monotonic() - t0 >= delay - 0.05
    assert got == ["1"]
    assert farm.work(1, "1")["status"] == "running"
    assert farm.work(1, "1")["retry_at"] is None


# ---------------------------------------------------------------- stale tokens and sessions


def test_unknown_token_is_ignored(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    before = farm.snapshot()
    resp = farm.report("h1", "deadbeefdeadbeef")
    assert resp.ignored == ["deadbeefdeadbeef"] and resp.accepted == []
    assert farm.snapshot() == before
    resp = farm.report("h1", a.token)
    assert resp.accepted == [a.token]


def test_late_report_of_a_reported_attempt_is_ignored(farm: Farm) -> None:
    farm.submit(job("1", retrywork=1))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    farm.report("h1", a.token, "failed")
    again = farm.report("h1", a.token, "complete")
    assert again.ignored == [a.token]
    w = farm.work(1, "1")
    assert w["status"] == "running" and w["retry"] == 1 and w["token"] != a.token


def test_report_of_another_hosts_token_is_ignored(farm: Farm) -> None:
    farm.submit(job("1"))
    farm.register("h1", 1)
    farm.register("h2", 1)
    [a] = farm.pull("h1").assignments
    assert farm.report("h2", a.token).ignored == [a.token]
    assert farm.work(1, "1")["status"] == "running"


def test_unknown_host_or_session_is_refused(farm: Farm) -> None:
    farm.register("h1", 1)
    with pytest.raises(SessionGone):
        farm.pull("h1", session="nope")
    with pytest.raises(SessionGone):
        farm.pull("ghost", session=farm.sessions["h1"])


def test_register_again_voids_the_old_session(farm: Farm) -> None:
    farm.submit(job("1-3", cpus=2))
    old = farm.register("h1", 2)
    got = farm.pull("h1").assignments
    assert len(got) == 2
    new = farm.register("h1", 2)
    assert new != old
    # the old items went back to pending, retry counted
    for a in got:
        w = farm.work(1, a.work or "")
        assert (w["status"], w["retry"], w["token"]) == ("pending", 1, None)
    assert all(s["status"] == "pending" for s in farm.job(1)["subjobs"])
    assert farm.status(1) == "pending"
    # a report under the old session is refused; nothing changes
    before = farm.snapshot()
    with pytest.raises(SessionGone):
        farm.report("h1", got[0].token, session=old)
    with pytest.raises(SessionGone):
        farm.pull("h1", session=old)
    assert farm.snapshot() == before
    # the old token under the new session is stale: ignored
    assert farm.report("h1", got[0].token).ignored == [got[0].token]
    # the new session gets the work again, with new tokens
    again = farm.pull("h1").assignments
    assert sorted(a.work or "" for a in again) == ["1", "2"]
    assert not {a.token for a in again} & {a.token for a in got}
    assert farm.names(type_="host").count("up") == 2


# ---------------------------------------------------------------- lost work


def test_silent_host_is_marked_down_and_its_work_moves(quick_farm: Farm) -> None:
    farm = quick_farm
    farm.submit(job("1-2", cpus=2))
    farm.register("h1", 2)
    lost = farm.pull("h1").assignments
    assert len(lost) == 2
    farm.register("h2", 2)

    def h1_down() -> bool:
        farm.pull("h2")  # h2 keeps its heartbeat up; it cannot get anything yet
        return any(h["name"] == "h1" and h["state"] == "down" for h in reads.list_hosts(farm.db))

    assert wait_until(h1_down, timeout=10, every=0.2)
    down = [e for e in farm.events() if e["name"] == "down"]
    assert [(e["type"], e["host"]) for e in down] == [("host", "h1")]
    for a in lost:
        w = farm.work(1, a.work or "")
        assert w["retry"] == 1
        assert w["host"] != "h1" or w["status"] == "pending"
    lost_events = [e for e in farm.events(job=1) if e["name"] == "pending" and e["type"] == "work"]
    assert len(lost_events) == 2 and all(e["data"]["lost"] for e in lost_events)
    # h2 gets them (possibly already during the heartbeat pulls above)
    got = farm.pull("h2").assignments
    running = {w["name"]: w for w in farm.job(1)["agenda"]}
    assert {w["host"] for w in running.values()} == {"h2"}
    assert {w["status"] for w in running.values()} == {"running"}
    # a late report from h1 is ignored; h1 coming back is told to cancel
    assert farm.report("h1", lost[0].token).ignored == [lost[0].token]
    back = farm.pull("h1", running=[a.token for a in lost])
    assert sorted(back.cancel) == sorted(a.token for a in lost)
    assert back.assignments == []
    assert farm.names(type_="host").count("up") >= 3  # h1, h2, h1 again
    tokens = [w["token"] for w in running.values()]
    for t in tokens:
        farm.report("h2", t)
    del got
    assert farm.status(1) == "complete"


def test_confirmed_token_missing_from_pull_is_requeued(farm: Farm) -> None:
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    assert farm.pull("h1", running=[a.token]).assignments == []  # confirmed
    got = farm.pull("h1", running=[]).assignments  # the worker lost it
    w1 = [e for e in farm.events(job=1) if e["work"] == "1" and e["type"] == "work"]
    # the lost attempt counts: a `retry` event, then pending again
    assert [e["name"] for e in w1] == ["running", "retry", "pending", "running"]
    assert w1[1]["data"]["lost"] is True and w1[2]["data"]["lost"] is True
    # it was requeued with retry counted, and (free slot) handed out again with a new token
    assert [x.work for x in got] == ["1"]
    assert got[0].token != a.token
    w = farm.work(1, "1")
    assert (w["status"], w["retry"], w["token"]) == ("running", 1, got[0].token)
    assert farm.report("h1", a.token).ignored == [a.token]


def test_assignment_whose_answer_was_lost_is_replaced_by_a_new_attempt(farm: Farm) -> None:
    """An answer carrying work may be lost. A pull sent soon after need not list it yet (the
    worker may not have read that answer), so nothing happens then; a pull sent long after
    that still does not list it proves the loss: a new attempt with a new token replaces it."""
    farm.submit(job("1-2"))
    farm.register("h1", 1)
    [a] = farm.pull("h1").assignments
    seq = farm.last_seq()
    assert farm.pull("h1", running=[]).assignments == []  # too soon to tell
    assert farm.last_seq() == seq  # nothing happened
    late = s.PullRequest(session=farm.sessions["h1"], running=[], wait=0)
    resp = farm.run(wk.pull, "h1", late, time.time() + wk.UNSEEN_AFTER + 1)
    [b] = resp.assignments
    assert b.work == a.work and b.token != a.token
    assert farm.work(1, a.work or "")["retry"] == 1
    assert farm.report("h1", a.token).ignored == [a.token]  # the lost attempt is stale
    assert farm.report("h1", b.token).accepted == [b.token]


def test_token_not_known_to_the_engine_is_cancelled(farm: Farm) -> None:
    farm.register("h1", 1)
    assert farm.pull("h1", running=["0123456789abcdef"]).cancel == ["0123456789abcdef"]
