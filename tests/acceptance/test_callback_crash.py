"""A supervisor SIGKILLed during a storm of callback firings restarts with each firing recorded
exactly once (issue 3, "Checked by"), on SQLite and PostgreSQL, with real workers.

Two callbacks fire on every frame completion of a ``source`` job of N frames of ``true``:

- on ``source`` itself, ``done-work-self-*`` → ``block-work-self``: a one-atom expression, so it
  fires on every ``done`` work event; the action finds the item already ended and skips it
  (harmless, no state change);
- on ``sink``, a job held blocked whose N items are blocked, ``done-work-source-*`` →
  ``unblock-work-self``: each firing makes the sink item of the same name pending (the job stays
  blocked, so nothing runs). A doubled firing would show as a run whose output is "skipped".

The supervisor is SIGKILLed twice while frames complete (about a third and two thirds of the
way), restarted, and the jobs run to the end. Then, from the store (events, callbacks, runs):
no event seq is missing, every frame is ``done`` exactly once, and for each callback
``count`` == ``done`` events == runs == ``fired`` events, one to one by event seq.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client

FRAMES = 2500  # frames of the source job: 2 firings each, 5,000 firings in all
KILL_AT = (1 / 3, 2 / 3)  # SIGKILL the supervisor when this share of the frames has completed
TIMEOUT = 50.0  # for the whole storm, kills and restarts included

JSON = dict[str, Any]


@pytest.fixture
def farm(tmp_path: Path, db_url: str) -> Iterator[LocalFarm]:
    f = LocalFarm(workers=2, slots=4, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    f.start()
    yield f
    f.stop()


def _all_events(client: Client) -> list[JSON]:
    out: list[JSON] = []
    while batch := client.events(since=out[-1]["seq"] if out else 0, limit=10_000):
        out += batch
    return out


def _jobs(frames: int) -> list[JSON]:
    names = [str(i) for i in range(1, frames + 1)]
    return [
        {
            "name": "storm-source", "label": "source", "cpus": 8, "prototype": "cmdrange",
            "package": {"cmdline": "true", "range": f"1-{frames}"},
            "callbacks": [{"triggers": "done-work-self-*", "language": "qube",
                           "code": "block-work-self"}],
        },
        {
            "name": "storm-sink", "label": "sink", "status": "blocked", "prototype": "cmdrange",
            "package": {"cmdline": "true"},
            "agenda": [{"name": n, "status": "blocked"} for n in names],
            "callbacks": [{"triggers": "done-work-source-*", "language": "qube",
                           "code": "unblock-work-self"}],
        },
    ]  # fmt: skip


def _completed(client: Client, job: int) -> int:
    return int(client.job(job, agenda=False)["todotally"].get("complete", 0))


def _wait_completed(farm: LocalFarm, job: int, at_least: int, deadline: float) -> int:
    with farm.client() as c:
        while (done := _completed(c, job)) < at_least:
            assert time.monotonic() < deadline, f"only {done} frames completed in time"
            farm.check()
            time.sleep(0.02)
    return done


def test_sigkill_during_a_storm_of_firings_records_each_firing_once(farm: LocalFarm) -> None:
    deadline = time.monotonic() + TIMEOUT
    with farm.client() as c:
        source, sink = c.submit(_jobs(FRAMES))
        assert c.last_warnings == []
    at_kill = []
    for share in KILL_AT:
        _wait_completed(farm, source["id"], int(FRAMES * share), deadline)
        farm.kill_supervisor()
        farm.restart_supervisor()
        with farm.client() as c:
            at_kill.append(_completed(c, source["id"]))  # what the crash left committed
    # the crashes did happen in the middle of the storm
    assert 0 < at_kill[0] < at_kill[1] < FRAMES, at_kill
    with farm.client(timeout=60) as c:
        final = c.wait([source["id"]], timeout=max(1.0, deadline - time.monotonic()))
        assert final == {source["id"]: "complete"}
        events = _all_events(c)
        cbs = {j["id"]: c.callbacks(j["id"], runs=100_000) for j in (source, sink)}
        sink_job = c.job(sink["id"])

    # no event lost or doubled: seqs are 1..n without a gap
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))

    # every frame of the source is done exactly once
    done = {e["seq"]: e for e in events
            if e["type"] == "work" and e["name"] == "done" and e["job"] == source["id"]}  # fmt: skip
    per_frame = Counter(e["work"] for e in done.values())
    assert len(per_frame) == FRAMES and set(per_frame.values()) == {1}

    fired = [e for e in events if e["type"] == "callback" and e["name"] == "fired"]
    for job in (source, sink):
        [cb] = cbs[job["id"]]["callbacks"]
        runs = cbs[job["id"]]["runs"]
        # count == done events == runs
        assert cb["count"] == len(done), (job["label"], cb["count"], len(done))
        assert len(runs) == len(done), (job["label"], len(runs), len(done))
        assert len({r["id"] for r in runs}) == len(runs)
        # each run points at a distinct done work event of the source, and all of them
        run_seqs = [r["event_seq"] for r in runs]
        assert len(set(run_seqs)) == len(run_seqs), "a triggering event has two runs"
        assert set(run_seqs) == set(done), "runs do not match the done events one to one"
        assert all(r["callback"] == cb["id"] and r["status"] == "complete" for r in runs)
        # the fired events match the runs one to one
        mine = [e for e in fired if e["data"]["callback"] == cb["id"]]
        assert all(e["job"] == job["id"] for e in mine)
        assert len(mine) == len(runs)
        assert sorted(e["data"]["event"] for e in mine) == sorted(run_seqs)
        assert sorted(e["data"]["count"] for e in mine) == list(range(1, len(done) + 1))
        # a firing is written in the transaction of its event: it comes after it, before
        # anything of a later batch could (fired seq > triggering seq)
        assert all(e["seq"] > e["data"]["event"] for e in mine)
        # the firing's work: the event's item
        for r in runs:
            assert f":{done[r['event_seq']]['work']}: " in r["output"], r

    # the sink's firings each unblocked its item once: none was skipped (a doubled firing
    # would find the item already pending), and every item is pending now, the job still held
    sink_runs = cbs[sink["id"]]["runs"]
    assert [r for r in sink_runs if not r["output"].startswith("unblock ")] == []
    assert sink_job["status"] == "blocked"
    assert Counter(w["status"] for w in sink_job["agenda"]) == {"pending": FRAMES}
    # the source's firings found their (ended) item and skipped it, as designed
    assert all(r["output"].startswith("skipped: block ") for r in cbs[source["id"]]["runs"])
