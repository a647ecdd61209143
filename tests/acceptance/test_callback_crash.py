"""A supervisor SIGKILLed during a storm of callback firings restarts with each firing recorded
exactly once (issue 3, "Checked by"), on SQLite and PostgreSQL, with real workers.

A ``source`` job runs N frames of ``true``. Four qube callbacks fire on every frame, 4 N firings:

- on ``source``, ``done-work-self-*`` and ``done-work-self-$f`` → ``block-work-self``: one-atom
  expressions (a wildcard, a pattern variable), so each fires on every ``done`` work event; the
  action finds the item already ended and skips it (harmless, no state change);
- on ``sink`` (a job held blocked, its N items blocked), ``done-work-source-*`` →
  ``unblock-work-self``: each firing makes the sink item of the same name pending (the job stays
  blocked, so nothing runs); a doubled firing would show as a run whose output is "skipped";
- on ``sink2`` (the same), ``running-work-source-$f && done-work-source-$f`` →
  ``unblock-work-self``: its two atoms latch in different commits (dispatch, then report), so a
  crash finds bindings half latched in the store.

The supervisor is SIGKILLed twice while frames complete (about a third and two thirds of the
way), restarted each time, and the source runs to the end. Then, from the store (events,
callbacks, runs): no event seq is missing, every frame is ``done`` exactly once, and for each
callback ``count`` == ``done`` events of the source == runs == ``fired`` events, one to one by
the seq of the triggering event.
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
from triggerfish.client.errors import WaitTimeout

FRAMES = 2500  # frames of the source job; 4 callbacks fire on each: 10,000 firings
KILL_AT = (1 / 3, 2 / 3)  # SIGKILL the supervisor when this share of the frames has completed
TIMEOUT = 50.0  # for the whole storm, kills and restarts included

JSON = dict[str, Any]
SKIP = "block-work-self"
UNBLOCK = "unblock-work-self"
# label -> the callbacks of that job: (triggers, code)
CALLBACKS: dict[str, list[tuple[str, str]]] = {
    "source": [("done-work-self-*", SKIP), ("done-work-self-$f", SKIP)],
    "sink": [("done-work-source-*", UNBLOCK)],
    "sink2": [("running-work-source-$f && done-work-source-$f", UNBLOCK)],
}


@pytest.fixture
def farm(tmp_path: Path, db_url: str) -> Iterator[LocalFarm]:
    f = LocalFarm(workers=2, slots=4, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)
    f.start()
    yield f
    f.stop()


def _jobs(frames: int) -> list[JSON]:
    names = [str(i) for i in range(1, frames + 1)]
    out: list[JSON] = []
    for label, cbs in CALLBACKS.items():
        job: JSON = {
            "name": f"storm-{label}", "label": label, "prototype": "cmdrange",
            "package": {"cmdline": "true"},
            "callbacks": [{"triggers": t, "language": "qube", "code": c} for t, c in cbs],
        }  # fmt: skip
        if label == "source":
            job.update(cpus=8, package={"cmdline": "true", "range": f"1-{frames}"})
        else:  # held: its items become pending one by one, but nothing of it runs
            job.update(status="blocked", agenda=[{"name": n, "status": "blocked"} for n in names])
        out.append(job)
    return out


def _completed(client: Client, job: int) -> int:
    return int(client.job(job, agenda=False)["todotally"].get("complete", 0))


def _wait_completed(farm: LocalFarm, job: int, at_least: int, deadline: float) -> None:
    with farm.client() as c:
        while (done := _completed(c, job)) < at_least:
            assert time.monotonic() < deadline, f"only {done} frames completed in time"
            farm.check()
            time.sleep(0.02)


def _stuck(client: Client, farm: LocalFarm, job: int) -> str:
    """What a source that did not finish in time was left with: its unfinished items and the
    ends of the logs (a failure seen once in CI, never here: this is what to look at)."""
    items = [w for w in client.job(job)["agenda"] if w["status"] != "complete"]
    lines = [f"source not finished in time; {len(items)} item(s) not complete, the first:"]
    lines += [f"  {w}" for w in items[:10]]
    for name in ("supervisor", *farm.worker_names):
        path = farm.log_path(name)
        if path is not None and path.exists():
            tail = path.read_text(errors="replace").splitlines()[-15:]
            lines += [f"--- {name} log, last lines:", *tail]
    return "\n".join(lines)


@pytest.mark.slow  # over 10 s: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_sigkill_during_a_storm_of_firings_records_each_firing_once(farm: LocalFarm) -> None:
    deadline = time.monotonic() + TIMEOUT
    with farm.client() as c:
        submitted = c.submit(_jobs(FRAMES))
        assert c.last_warnings == []
    ids = {j["label"]: j["id"] for j in submitted}
    source = ids["source"]
    at_kill = []
    for share in KILL_AT:
        _wait_completed(farm, source, int(FRAMES * share), deadline)
        farm.kill_supervisor()
        farm.restart_supervisor()
        with farm.client() as c:
            at_kill.append(_completed(c, source))  # what the crash left committed
    # the crashes did happen in the middle of the storm
    assert 0 < at_kill[0] < at_kill[1] < FRAMES, at_kill
    with farm.client(timeout=60) as c:
        try:
            final = c.wait([source], timeout=max(1.0, deadline - time.monotonic()))
        except WaitTimeout:
            pytest.fail(_stuck(c, farm, source))
        assert final == {source: "complete"}
        events = c.all_events()
        shown = {label: c.callbacks(i, runs=100_000) for label, i in ids.items()}
        sinks = {label: c.job(ids[label]) for label in ("sink", "sink2")}

    # no event lost or doubled: seqs are 1..n without a gap
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))

    # every frame of the source is done exactly once
    done = {e["seq"]: e for e in events
            if e["type"] == "work" and e["name"] == "done" and e["job"] == source}  # fmt: skip
    per_frame = Counter(e["work"] for e in done.values())
    assert len(per_frame) == FRAMES and set(per_frame.values()) == {1}

    fired = [e for e in events if e["type"] == "callback" and e["name"] == "fired"]
    assert len(fired) == sum(len(v) for v in CALLBACKS.values()) * FRAMES
    for label, specs in CALLBACKS.items():
        cbs = shown[label]["callbacks"]
        assert [(cb["triggers"], cb["code"]) for cb in cbs] == specs
        for cb in cbs:
            what = f"{label}: {cb['triggers']}"
            runs = [r for r in shown[label]["runs"] if r["callback"] == cb["id"]]
            # count == done events == runs
            assert cb["count"] == len(done), (what, cb["count"], len(done))
            assert len(runs) == len(done), (what, len(runs), len(done))
            assert len({r["id"] for r in runs}) == len(runs)
            # each run points at a distinct done work event of the source, and all of them
            run_seqs = [r["event_seq"] for r in runs]
            assert len(set(run_seqs)) == len(run_seqs), f"{what}: an event has two runs"
            assert set(run_seqs) == set(done), f"{what}: runs and done events differ"
            for r in runs:
                item = done[r["event_seq"]]["work"]
                assert r["status"] == "complete", (what, r)
                assert f":{item}: " in r["output"], (what, r)  # it acted on the event's item
                if "$f" in cb["triggers"]:
                    assert r["bindings"] == {"f": item}, (what, r)
                want = "skipped: block " if cb["code"] == SKIP else "unblock "
                # an unblock that finds its item already pending would mean a second firing
                assert r["output"].startswith(want), (what, r)
            # the fired events match the runs one to one, counts 1..n once each
            mine = [e for e in fired if e["data"]["callback"] == cb["id"]]
            assert all(e["job"] == ids[label] for e in mine)
            assert len(mine) == len(runs), (what, len(mine), len(runs))
            assert sorted(e["data"]["event"] for e in mine) == sorted(run_seqs)
            assert sorted(e["data"]["count"] for e in mine) == list(range(1, len(done) + 1))
            assert all(e["seq"] > e["data"]["event"] for e in mine)
            # nothing left latched: every binding that latched has fired
            assert cb["latches"]["pending"] == {} and cb["latches"]["latched"] == [], (what, cb)

    # each sink item was unblocked once: all pending now, the job still held
    for label, job in sinks.items():
        assert job["status"] == "blocked", label
        assert Counter(w["status"] for w in job["agenda"]) == {"pending": FRAMES}, label
