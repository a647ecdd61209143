"""Events, the head of the event log, and ``wait``, against an in-memory fake supervisor."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from triggerfish.client import CannotFinish, Client, ClientError, WaitTimeout, reconnect


class FakeFarm:
    """Jobs and an event log behind the API's routes. ``head_last`` picks what ``last`` says
    when events are returned: the head of the log, or (default) the seq of the last one."""

    def __init__(self, events: int = 0, *, head_last: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.jobs: dict[int, dict[str, Any]] = {}
        self.head_last = head_last
        self.requests: list[str] = []
        self.on_events: Any = None
        self.down = 0  # the next this many requests find no supervisor (a restart)
        self.down_with: int | None = None  # ... or this HTTP status (502/503) instead
        for _ in range(events):
            self.emit("running", "work", 1)

    def emit(self, name: str, type_: str, job: int) -> None:
        seq = len(self.events) + 1
        self.events.append({"seq": seq, "time": 0.0, "name": name, "type": type_, "job": job})

    def handle(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req.url.path)
        if self.down:
            self.down -= 1
            if self.down_with is not None:
                return httpx.Response(self.down_with, text="Bad Gateway")
            raise httpx.ConnectError("[Errno 111] Connection refused", request=req)
        path = req.url.path.removeprefix("/api/v1")
        if path == "/events":
            if self.on_events is not None and "wait" in req.url.params:
                self.on_events(self)  # things happen while a client long-polls
            after = int(req.url.params.get("after", 0))
            limit = int(req.url.params.get("limit", 1000))
            rows = [e for e in self.events if e["seq"] > after][:limit]
            head = len(self.events)
            last = head if self.head_last else (rows[-1]["seq"] if rows else max(after, head))
            return httpx.Response(200, json={"events": rows, "last": last, "head": head})
        if path == "/jobs":
            pgrp = int(req.url.params["pgrp"])
            return httpx.Response(
                200, json={"jobs": [j for j in self.jobs.values() if j["pgrp"] == pgrp]}
            )
        if path.startswith("/jobs/"):
            jid = int(path.split("/")[2])
            if jid not in self.jobs:
                return httpx.Response(404, json={"error": {"code": "not_found", "message": "gone"}})
            return httpx.Response(200, json=self.jobs[jid])
        return httpx.Response(404, json={"detail": "Not Found"})

    def client(self) -> Client:
        return Client("http://farm", transport=httpx.MockTransport(self.handle))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 64, 1000, 4097])
def test_event_head_is_one_request(count: int) -> None:
    farm = FakeFarm(count)
    assert farm.client().event_head() == count
    assert len(farm.requests) == 1


def test_event_head_when_last_is_the_head() -> None:
    farm = FakeFarm(500, head_last=True)
    assert farm.client().event_head() == 500
    assert len(farm.requests) == 1


def test_events_keep_last() -> None:
    farm = FakeFarm(5)
    client = farm.client()
    assert [e["seq"] for e in client.events(since=3)] == [4, 5]
    assert client.last_event_seq == 5
    assert client.events(since=5) == []
    assert client.last_event_seq == 5


def job(jid: int, status: str, pgrp: int = 1) -> dict[str, Any]:
    return {"id": jid, "status": status, "todo": 0, "todotally": {}, "pgrp": pgrp}


def test_wait_returns_when_every_job_ended() -> None:
    farm = FakeFarm(3)
    farm.jobs = {1: job(1, "running"), 2: job(2, "complete")}

    def finish(f: FakeFarm) -> None:
        if f.jobs[1]["status"] == "running":
            f.jobs[1]["status"] = "failed"
            f.emit("failed", "job", 1)

    farm.on_events = finish
    started = time.monotonic()
    assert farm.client().wait([1, 2], timeout=5) == {1: "failed", 2: "complete"}
    assert time.monotonic() - started < 2


def test_wait_times_out_with_the_last_statuses() -> None:
    farm = FakeFarm(0)
    farm.jobs = {4: job(4, "blocked")}
    with pytest.raises(WaitTimeout) as info:
        farm.client().wait(4, timeout=0.3, poll=0.05)
    assert isinstance(info.value, TimeoutError)
    assert info.value.statuses == {4: "blocked"}
    assert "4 (blocked)" in info.value.message


def test_wait_on_a_job_removed_meanwhile() -> None:
    farm = FakeFarm(1)
    farm.jobs = {5: job(5, "running")}

    def remove(f: FakeFarm) -> None:
        if 5 in f.jobs:
            del f.jobs[5]
            f.emit("removed", "job", 5)

    farm.on_events = remove
    assert farm.client().wait(5, timeout=5) == {5: "removed"}


def test_wait_on_an_unknown_job_fails_at_once() -> None:
    farm = FakeFarm(0)
    with pytest.raises(Exception, match="gone"):
        farm.client().wait(9, timeout=5)


def test_wait_reads_many_jobs_of_one_pgrp_with_one_request() -> None:
    farm = FakeFarm(1)
    farm.jobs = {i: job(i, "running", pgrp=1) for i in range(1, 9)}
    farm.jobs[9] = job(9, "running", pgrp=9)
    rounds = 0

    def progress(f: FakeFarm) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            for j in f.jobs.values():
                j["status"] = "complete"
            del f.jobs[4]
            f.emit("done", "job", 1)
        else:
            f.emit("running", "job", 1)

    farm.on_events = progress
    statuses = farm.client().wait(range(1, 10), timeout=10)
    assert statuses == {**dict.fromkeys(range(1, 10), "complete"), 4: "removed"}
    singles = [p for p in farm.requests if p.startswith("/api/v1/jobs/")]
    lists = [p for p in farm.requests if p == "/api/v1/jobs"]
    assert len(singles) == 9 + 1 + 1  # the first look, then job 9 (alone in its pgrp), job 4
    assert len(lists) == 1


def test_all_events_pages_through_the_whole_log() -> None:
    farm = FakeFarm(25_001)
    events = farm.client().all_events()
    assert [e["seq"] for e in events] == list(range(1, 25_002))
    assert farm.client().all_events(since=25_000)[0]["seq"] == 25_001


# ---------------------------------------------------------------- restarts and stuck jobs


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconnect, "FIRST_DELAY", 0.01)


@pytest.mark.parametrize("down_with", [None, 502, 503])
def test_wait_rides_through_a_supervisor_that_goes_away(down_with: int | None) -> None:
    farm = FakeFarm(1)
    farm.jobs = {1: job(1, "running")}
    farm.down_with = down_with
    rounds = 0

    def restart_then_finish(f: FakeFarm) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            f.down = 4  # the supervisor goes away for the next 4 requests
        else:
            f.jobs[1]["status"] = "complete"
            f.emit("complete", "job", 1)

    farm.on_events = restart_then_finish
    said: list[str] = []
    assert farm.client().wait(1, timeout=30, notify=said.append) == {1: "complete"}
    assert farm.down == 0
    assert len(said) == 2  # said once when it went, once when it came back
    assert said[0].startswith("supervisor unreachable at http://farm; retrying")
    assert said[1] == "reconnected to the supervisor at http://farm"


def test_wait_gives_up_at_its_timeout_while_the_supervisor_is_away() -> None:
    farm = FakeFarm(1)
    farm.jobs = {1: job(1, "running")}
    farm.down = 1_000_000
    with pytest.raises(WaitTimeout, match="does not answer"):
        farm.client().wait(1, timeout=0.5, notify=lambda _m: None)


def test_errors_other_than_an_outage_are_not_retried() -> None:
    farm = FakeFarm(0)
    farm.down, farm.down_with = 1, 400
    with pytest.raises(ClientError):
        farm.client().wait(1, timeout=5, notify=lambda _m: None)
    assert len(farm.requests) == 1


def test_wait_on_jobs_that_cannot_finish_names_them_and_why() -> None:
    farm = FakeFarm(1)
    why = "waits for complete-job-render: job 1 failed"
    farm.jobs = {1: job(1, "failed"), 2: {**job(2, "blocked"), "stuck": why},
                 3: job(3, "running")}  # fmt: skip

    def finish(f: FakeFarm) -> None:
        if f.jobs[3]["status"] == "running":
            f.jobs[3]["status"] = "complete"
            f.emit("complete", "job", 3)

    farm.on_events = finish
    with pytest.raises(CannotFinish) as info:
        farm.client().wait([1, 2, 3], timeout=10)
    assert info.value.stuck == {2: why}
    assert info.value.statuses == {1: "failed", 2: "blocked", 3: "complete"}
    assert f"job 2 (blocked) {why}" in info.value.message


def test_a_job_that_becomes_stuck_ends_the_wait() -> None:
    farm = FakeFarm(1)
    farm.jobs = {2: {**job(2, "blocked")}}
    why = "waits for complete-job-render: job 1 failed"

    def upstream_fails(f: FakeFarm) -> None:
        f.jobs[2]["stuck"] = why
        f.emit("failed", "job", 1)  # another job's end wakes a wait on a blocked job

    farm.on_events = upstream_fails
    with pytest.raises(CannotFinish) as info:
        farm.client().wait(2, timeout=30)
    assert info.value.stuck == {2: why}
