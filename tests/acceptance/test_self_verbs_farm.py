"""qube callback actions that apply the dispatch verbs to their own job, against real farms
(supervisor and worker processes): ``suspend-self`` stops the command's process group until
``resume-self``, ``interrupt-self`` sends the running item back to pending with no failure
counted, ``migrate-self`` moves it to another host, ``preempt-self`` (Qube's: after the current
item) lets the item finish and gives the slot up (docs/callbacks.md, docs/dispatch-verbs.md).

Each callback fires on an event of another job of its pgrp: the kill of a blocked "switch"."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from farms import StartFarm
from procwatch import group_states as _group_states
from procwatch import stopped as _stopped
from procwatch import until as _until

from triggerfish.client.client import Client

pytestmark = pytest.mark.slow  # about 10 s: CI runs it (.ci/run); `python -m pytest -m slow`


def _gone(pgid: int) -> bool:
    return _group_states(pgid) <= {"Z"}


def _pid(path: Path) -> int:
    _until(f"{path} written", lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


def _jobs(tmp: Path, frames: str, **switches: str) -> list[dict[str, Any]]:
    """The job (its items write their shell's pid to tmp/pid.N, wait up to 30 s for tmp/go,
    then write tmp/done.N) and one blocked switch job per callback: killing the switch
    labelled L fires ``switches[L]`` on the job."""
    cmd = (
        f"echo $$ > {tmp}/pid.QB_FRAME_NUMBER; n=0; "
        f"while [ ! -e {tmp}/go ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; "
        f"echo ok > {tmp}/done.QB_FRAME_NUMBER"
    )
    callbacks = [{"triggers": f"killed-job-{label}", "language": "qube", "code": code}
                 for label, code in switches.items()]  # fmt: skip
    main = {"name": "main", "label": "main", "agenda": frames, "package": {"cmdline": cmd},
            "callbacks": callbacks}  # fmt: skip
    return [main, *({"name": label, "label": label, "status": "blocked",
                     "package": {"cmdline": "true"}} for label in switches)]  # fmt: skip


def _flip(c: Client, jobs: list[dict[str, Any]], label: str) -> str:
    """Kill switch ``label``: its callback runs in the same commit. The run's output."""
    [sw] = [j for j in jobs if j["label"] == label]
    c.kill(sw["id"])
    runs = c.callbacks(jobs[0]["id"])["runs"]
    out = max(runs, key=lambda r: r["id"])
    assert out["status"] == "complete", out
    return str(out["output"])


def _events(c: Client, jid: int) -> list[str]:
    return [e["name"] for e in c.events(job=jid)]


def test_suspend_self_and_resume_self(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        jobs = c.submit(_jobs(tmp_path, "1", stop="suspend-self", go="resume-self"))
        jid = jobs[0]["id"]
        pid = _pid(tmp_path / "pid.1")
        assert _flip(c, jobs, "stop") == f"suspend {jid}: suspended"
        _until("the process stopped", lambda: _stopped(pid))
        assert c.job(jid, agenda=False)["status"] == "suspended"
        assert c.work(jid, "1")["status"] == "suspended"
        (tmp_path / "go").touch()
        time.sleep(0.5)
        assert _stopped(pid) and not (tmp_path / "done.1").exists()  # it stays stopped
        assert _flip(c, jobs, "go") == f"resume {jid}: running"
        _until("the job completes", lambda: c.job(jid, agenda=False)["status"] == "complete")
        assert (tmp_path / "done.1").exists()
        names = _events(c, jid)
        assert "suspend" in names and "resume" in names and "failed" not in names


def test_interrupt_self_and_migrate_self(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=2, slots=1)
    with farm.client() as c:
        jobs = c.submit(_jobs(tmp_path, "1", cut="interrupt-self", move="migrate-self"))
        jid = jobs[0]["id"]
        first = _pid(tmp_path / "pid.1")
        (tmp_path / "pid.1").unlink()
        assert _flip(c, jobs, "cut") == f"interrupt {jid}: pending"
        _until("the interrupted command ended", lambda: _gone(first))
        second = _pid(tmp_path / "pid.1")  # it runs again
        item = c.work(jid, "1")
        assert second != first and item["retry"] == 0
        names = _events(c, jid)
        assert "interrupt" in names and "failed" not in names and "retry" not in names
        host = item["host"]
        (tmp_path / "pid.1").unlink()
        assert _flip(c, jobs, "move") == f"migrate {jid}: pending"
        _pid(tmp_path / "pid.1")
        item = c.work(jid, "1")
        assert item["host"] != host and item["retry"] == 0  # the other worker runs it
        assert "migrate" in _events(c, jid)
        (tmp_path / "go").touch()
        _until("the job completes", lambda: c.job(jid, agenda=False)["status"] == "complete")


def test_preempt_self_lets_the_item_finish(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        jobs = c.submit(_jobs(tmp_path, "1-2", soft="preempt-self"))
        jid = jobs[0]["id"]
        pid = _pid(tmp_path / "pid.1")
        out = _flip(c, jobs, "soft")
        assert out == f"preempt {jid}: 1 instance(s) give their slots up after their current items"
        time.sleep(0.5)
        assert c.work(jid, "1")["status"] == "running"  # not taken back: it goes on
        assert not _gone(pid) and not (tmp_path / "done.1").exists()
        (tmp_path / "go").touch()
        _until("the job completes", lambda: c.job(jid, agenda=False)["status"] == "complete")
        assert (tmp_path / "done.1").exists() and c.work(jid, "1")["retry"] == 0
        evs = c.events(job=jid)
        [pre] = [e for e in evs if e["name"] == "preempt"]
        assert pre["type"] == "subjob" and pre["data"] == {"mode": "callback"}
        done_1 = next(e["seq"] for e in evs if e["name"] == "complete" and e["work"] == "1")
        run_2 = next(e["seq"] for e in evs if e["name"] == "running" and e["work"] == "2")
        assert done_1 < pre["seq"] < run_2  # the slot was given up between the items
