"""Scheduled and recurring tasks end to end (real supervisor, workers, timers).

Timing is never asserted as a duration: the checks are orderings against the clock (a run
never starts before its due time) and the grid of due times each run was created for.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from farms import StartFarm

from triggerfish.client.client import Client
from triggerfish.errors import ClientError
from triggerfish.tasks import Tasks

APP = "tasks_app"


def _runs(path: Path) -> list[tuple[str, float]]:
    if not path.exists():
        return []
    return [(n, float(t)) for n, t in (line.split() for line in path.read_text().splitlines())]


def _dues(c: Client, schedule: int) -> list[float]:
    """The due time of every task a schedule created, in order."""
    out = []
    for t in sorted(c.tasks(limit=10_000), key=lambda t: t["id"]):
        data = c.job(t["id"], agenda=False)["fields"].get("data") or {}
        if data.get("schedule") == schedule:
            out.append(float(data["due"]))
    return out


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_scheduled_task_never_runs_early(start_farm: StartFarm, tasks_app: str, tmp_path: Path,
                                         db_url: str) -> None:  # fmt: skip
    farm = start_farm(db_url, workers=1)
    out = tmp_path / "runs.txt"
    with farm.client() as c, Tasks(c) as tasks:
        at = time.time() + 2.0
        tid = tasks.add_scheduled(f"{APP}:record", {"file": str(out), "n": "late"}, at=at)
        now = tasks.add(f"{APP}:record", {"file": str(out), "n": "now"})
        assert tasks.get(tid)["status"] == "blocked"
        assert "held until" in c.job(tid, agenda=False)["reason"]
        assert tasks.result(now, timeout=60) == "now"
        assert tasks.result(tid, timeout=60) == "late"
    runs = dict(_runs(out))
    assert runs["late"] >= at and runs["now"] < at


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_recurring_added_twice_runs_only_the_second(
    start_farm: StartFarm,
    tasks_app: str,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    farm = start_farm(db_url, workers=1)
    out = tmp_path / "runs.txt"
    for key, value in farm.client_env().items():  # the module-level API finds the farm
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)
    from triggerfish import tasks as tf

    with farm.client() as c, Tasks(c) as tasks:
        start = time.time() + 1.0
        first = tasks.add_recurring(f"{APP}:record", {"file": str(out), "n": "first"},
                                    every=0.5, start=start)  # fmt: skip
        # AMsoil's two-argument form names the same target: it replaces the first
        worker = tf.amsoil_worker()
        second = worker.addAsReccurring(APP, "record", {"file": str(out), "n": "second"}, 0.5)
        other = tasks.add_recurring(f"{APP}:record", {"file": str(out), "n": "keyed"},
                                    every=0.5, start=start, key="other")  # fmt: skip
        assert first == second and other != first
        listed = {s["id"]: s for s in tasks.list() if s["kind"] == "recurring"}
        assert set(listed) == {first, other}
        assert listed[first]["params"]["n"] == "second"
        deadline = time.time() + 60
        while len([n for n, _ in _runs(out) if n == "keyed"]) < 3 and time.time() < deadline:
            time.sleep(0.2)
        tasks.remove(first)
        tasks.remove(other)
        assert [s for s in tasks.list() if s["kind"] == "recurring"] == []
    names = {n for n, _ in _runs(out)}
    assert names == {"second", "keyed"}


@pytest.mark.slow  # a minute of runs: CI runs it (.ci/run), `python -m pytest -m slow` here
def test_recurring_runs_stay_on_the_fixed_rate(start_farm: StartFarm, tasks_app: str,
                                               tmp_path: Path) -> None:  # fmt: skip
    """About a minute of 1 s periods: every run is created for the next point of the grid
    start + k * every (no drift, none early) — AMsoil's fixed delay would drift."""
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=1)
    out = tmp_path / "runs.txt"
    with farm.client() as c, Tasks(c) as tasks:
        start = time.time() + 1.0
        sid = tasks.add_recurring(f"{APP}:record", {"file": str(out), "n": "tick"}, every=1.0,
                                  start=start, policy="allow")  # fmt: skip
        time.sleep(60)
        tasks.remove(sid)
        number = int(sid[1:])
        dues = _dues(c, number)
        c.wait([t["id"] for t in c.tasks(status="active")], timeout=60)
    runs = sorted(t for _, t in _runs(out))
    assert len(dues) >= 50
    assert dues == [start + k * 1.0 for k in range(len(dues))]  # the grid, no gap, no drift
    assert len(runs) == len(dues)
    assert all(ran >= due for ran, due in zip(runs, dues, strict=True))  # never early


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
@pytest.mark.parametrize("policy", ["skip", "queue"])
def test_skip_and_queue_never_overlap_runs(start_farm: StartFarm, tasks_app: str, tmp_path: Path,
                                           policy: str) -> None:  # fmt: skip
    """Two slots free, runs longer than the period: still one run at a time."""
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=1, slots=2)
    with farm.client() as c, Tasks(c) as tasks:
        sid = tasks.add_recurring(f"{APP}:sleepy", 1.2, every=0.4, policy=policy)  # type: ignore[arg-type]
        deadline = time.time() + 60
        while c.schedule(int(sid[1:]))["runs"] < 3 and time.time() < deadline:
            time.sleep(0.2)
        tasks.remove(sid)
        info = c.schedules()
        runs = sorted((t for t in c.tasks() if t["target"] == f"{APP}:sleepy"),
                      key=lambda t: t["id"])  # fmt: skip
        c.wait([t["id"] for t in runs], timeout=60)
        runs = [c.task(t["id"]) for t in runs]
        waited = [e for e in c.all_events() if e["type"] == "job" and e["name"] == "blocked"]
    assert info == []
    assert bool(waited) == (policy == "queue")  # a queued run waits for the one before it
    assert len(runs) >= 3
    for a, b in itertools.pairwise(runs):
        assert b["timestart"] >= a["timecomplete"]  # the next run began after the last ended


@pytest.mark.slow  # over 10 s: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_missed_timers_run_once_after_a_supervisor_sigkill(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1)
    out = tmp_path / "runs.txt"
    with farm.client() as c, Tasks(c) as tasks:
        start = time.time() + 1.0
        sid = tasks.add_recurring(f"{APP}:record", {"file": str(out), "n": "tick"}, every=1.0,
                                  start=start)  # fmt: skip
        at = time.time() + 2.0
        tid = tasks.add_scheduled(f"{APP}:record", {"file": str(out), "n": "once"}, at=at)
        farm.kill_supervisor()
        killed = time.time()
        time.sleep(max(0.0, start + 4.5 - killed))  # four periods and the scheduled time pass
        farm.restart_supervisor()
        restarted = time.time()
    with farm.client() as c, Tasks(c) as tasks:
        assert tasks.result(tid, timeout=60) == "once"
        deadline = time.time() + 60
        while c.schedule(int(sid[1:]))["runs"] < 3 and time.time() < deadline:
            time.sleep(0.2)
        tasks.remove(sid)
        dues = _dues(c, int(sid[1:]))
    missed = [d for d in dues if killed <= d <= restarted]
    assert len(missed) == 1  # the periods missed while down ran once, not once each
    assert dues[0] == start
    later = dues[1:]
    assert all(d > restarted for d in later)
    assert all(d - start == pytest.approx(round(d - start), abs=1e-6) for d in later)
    assert [n for n, _ in _runs(out)].count("once") == 1


def test_tasks_and_schedules_belong_to_their_user(start_farm: StartFarm, tasks_app: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=1)
    with farm.client() as admin:
        alice = admin.add_user("alice", ["submit"])["token"]
        bob = admin.add_user("bob", ["submit"])["token"]
        reader = admin.add_user("host1", worker=True)["token"]  # a worker's token adds nothing
    with Client(farm.url, token=alice) as a, Tasks(a) as ta, Client(
        farm.url, token=bob
    ) as b, Tasks(b) as tb, Client(farm.url, token=reader) as r:  # fmt: skip
        sid = ta.add_recurring(f"{APP}:echo", "a", every=0.3, key="k")
        tid = ta.add(f"{APP}:echo", "once")
        assert ta.result(tid, timeout=60) == {"got": "once"}
        refusals = [
            lambda: tb.remove(sid),
            lambda: tb.pause(sid),
            lambda: tb.remove(tid),
            lambda: tb.add_recurring(f"{APP}:echo", "b", every=0.3, key="k"),  # alice's key
        ]
        for refused in refusals:
            with pytest.raises(ClientError) as err:
                refused()
            assert err.value.status == 403
        with pytest.raises(ClientError) as err:
            Tasks(r).add(f"{APP}:echo", 1)
        assert err.value.status == 403
        deadline = time.time() + 60
        while a.schedule(int(sid[1:]))["runs"] < 2 and time.time() < deadline:
            time.sleep(0.1)
        info = a.schedule(int(sid[1:]))
        ta.remove(sid)
        owners = {a.job(t["id"], agenda=False)["user"] for t in a.tasks()}
    assert info["user"] == "alice" and info["params"] == "a"
    assert owners == {"alice"}
