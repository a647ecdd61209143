"""Python callbacks in runner processes: the seed's Qube-style submission script, and
isolation (sys.exit, an exception, an endless loop cost their run only)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triggerfish.cli.demo import frame_order_ok
from triggerfish.cli.local import LocalFarm
from triggerfish.client.client import Client


def _farm(tmp_path: Path, db_url: str | None = None) -> LocalFarm:
    return LocalFarm(workers=2, slots=2, data_dir=tmp_path / "farm", db_url=db_url, grace=5.0)


@pytest.fixture
def farm(tmp_path: Path, db_url: str) -> Iterator[LocalFarm]:
    f = _farm(tmp_path, db_url).start()
    yield f
    f.stop()


def seed_jobs(frames: int = 4) -> list[dict[str, Any]]:
    """The seed 002 example, typos fixed: one python callback per composite frame."""

    def job(label: str) -> dict[str, Any]:
        return {"name": label, "label": label, "cpus": 2,
                "package": {"cmdline": f"sleep 0.05; echo {label} QB_FRAME_NUMBER"},
                "agenda": [{"name": str(n)} for n in range(1, frames + 1)]}  # fmt: skip

    job_a, job_b, job_c = job("ribGen"), job("render"), job("composite")
    callbacks = []
    for work in job_c["agenda"]:
        work["status"] = "blocked"
        frame = work["name"]
        code = "jobId = qb.jobid()\n"
        code += f'qb.workunblock("%s:{frame}" % jobId)\n'
        code += "qb.unblock(jobId)\n"
        trigger = f"complete-work-ribGen-{frame} AND complete-work-render-{frame}"
        callbacks.append({"triggers": trigger, "language": "python", "code": code})
    job_c["callbacks"] = callbacks
    return [job_a, job_b, job_c]


def test_the_seed_script_with_python_callbacks(farm: LocalFarm) -> None:
    with farm.client() as c:
        jobs = c.submit(seed_jobs())
        ids = {j["label"]: j["id"] for j in jobs}
        final = c.wait(list(ids.values()), timeout=120)
        assert set(final.values()) == {"complete"}
        runs = _ended_runs(c, ids["composite"], 4)
        assert {r["status"] for r in runs} == {"complete"}, runs
        checked, problems = frame_order_ok(
            c.all_events(),
            {
                "ribgen": ids["ribGen"],
                "render": ids["render"],
                "composite": ids["composite"],
            },
        )
    assert checked == 4 and problems == []


def _ended_runs(c: Client, job: int, count: int) -> list[dict[str, Any]]:
    """The job's runs once ``count`` of them have ended (a run's own effects, like an
    unblock, may finish its job before the run's process has exited)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = c.callbacks(job)["runs"]
        if len(runs) >= count and all(r["status"] not in ("queued", "running") for r in runs):
            return list(runs)
        time.sleep(0.1)
    raise AssertionError(f"runs of job {job} never ended: {c.callbacks(job)['runs']}")


def _one(c: Client, code: str) -> dict[str, Any]:
    [j] = c.submit([{"name": "x", "package": {"cmdline": "true", "range": "1"},
                     "callbacks": [{"triggers": "complete-job-self", "language": "python",
                                    "code": code}]}])  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = c.callbacks(j["id"])["runs"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            return dict(runs[0])
        time.sleep(0.1)
    raise AssertionError("the run never ended")


@pytest.mark.slow  # 8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_a_bad_callback_costs_only_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGERFISH_CALLBACK_TIMEOUT", "2")
    farm = _farm(tmp_path).start()
    try:
        with farm.client() as c:
            exited = _one(c, "import sys\nprint('bye')\nsys.exit(3)")
            assert exited["status"] == "failed" and "sys.exit(3)" in exited["error"]
            assert "bye" in exited["output"]
            raised = _one(c, "raise RuntimeError('boom')")
            assert raised["status"] == "failed" and "RuntimeError: boom" in raised["error"]
            assert "Traceback" in raised["output"]
            looped = _one(c, "while True:\n    pass")
            assert looped["status"] == "failed" and "time limit" in looped["error"]
            slept = _one(c, "import os\nos.system('sleep 600')")
            assert slept["status"] == "failed" and "time limit" in slept["error"]
            hungry = _one(c, "x = bytearray(8 * 1024 ** 3)")  # past the 1 GiB default limit
            assert hungry["status"] == "failed" and "MemoryError" in hungry["error"]
            ok = _one(c, "print('job', qb.jobid(), event['name'])")
            assert ok["status"] == "complete" and "complete" in ok["output"]
            # the supervisor kept serving and dispatching throughout
            [j] = c.submit([{"name": "after", "package": {"cmdline": "true", "range": "1-3"}}])
            assert c.wait([j["id"]], timeout=30) == {j["id"]: "complete"}
    finally:
        farm.stop()


@pytest.mark.slow  # 6-8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_global_callbacks_fire_survive_a_restart_and_can_be_removed(tmp_path: Path) -> None:
    farm = _farm(tmp_path).start()
    try:
        with farm.client() as c:
            with pytest.raises(Exception, match="global callback has none"):
                c.add_global_callback("complete-job-1", "unblock-self", language="qube")
            with pytest.raises(Exception, match="column"):
                c.add_global_callback("complete-job-1 &&", "print(1)")
            added = c.add_global_callback(
                "complete-job-2", "print('global saw', event['name'], event['job'])"
            )
            farm.restart_supervisor()  # stored: it must still fire
            [a] = c.submit([{"name": "a", "package": {"cmdline": "true"}}])
            [b] = c.submit([{"name": "b", "package": {"cmdline": "true"}}])
            assert b["id"] == 2
            c.wait([a["id"], b["id"]], timeout=30)
            deadline = time.monotonic() + 30
            runs: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                runs = c.global_callbacks()["runs"]
                if runs and runs[0]["status"] == "complete":
                    break
                time.sleep(0.1)
            assert len(runs) == 1 and "global saw complete 2" in runs[0]["output"]
            c.remove_global_callback(added["id"])
            assert c.global_callbacks()["callbacks"] == []
            with pytest.raises(Exception, match="no global callback"):
                c.remove_global_callback(added["id"])
    finally:
        farm.stop()
