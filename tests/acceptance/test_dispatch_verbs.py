"""Dispatch verbs against real farms (supervisor and worker processes): suspend / resume stop
and continue the command's process group, interrupt and migrate send running items back to
pending with no failure counted, complete and retire end work without running it, shove, and
409 for the states a verb forbids (docs/dispatch-verbs.md)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from farms import StartFarm
from procwatch import group_states as _group_states
from procwatch import stopped as _stopped
from procwatch import until as _until

import triggerfish.qb as qb
from triggerfish.cli.main import cli
from triggerfish.client.client import Client
from triggerfish.client.errors import ClientError


def _running(pgid: int) -> bool:
    return "T" not in _group_states(pgid)


def _items(c: Client, jobid: int) -> dict[str, str]:
    return {w["name"]: w["status"] for w in c.agenda(jobid)}


def _events(c: Client, jid: int) -> list[str]:
    return [e["name"] for e in c.events(job=jid)]


def _pid(path: Path) -> int:
    _until(f"{path} written", lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


def _job(tmp: Path, frames: str = "1", secs: float = 1.5, **kw: object) -> dict[str, object]:
    """Each item writes its shell's pid (its process group's id) to tmp/pid.N, waits for
    tmp/go (or ``secs`` of its own running time) and ends."""
    cmd = (
        f"echo $$ > {tmp}/pid.QB_FRAME_NUMBER; n=0; "
        f"while [ ! -e {tmp}/go ] && [ $n -lt {int(secs * 20)} ]; do sleep 0.05; n=$((n+1)); done"
    )
    return {"name": "verbs", "agenda": frames, "package": {"cmdline": cmd}, **kw}


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_suspend_stops_the_process_until_resume(
    start_farm: StartFarm, db_url: str, tmp_path: Path
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, secs=30, agenda_timeout=3)])
        jid = j["id"]
        pid = _pid(tmp_path / "pid.1")
        time.sleep(1.5)  # half its timeout
        assert c.control("suspend", [jid]) == [{"target": str(jid), "status": "suspended"}]
        _until("the process stopped", lambda: _stopped(pid))
        assert _items(c, jid) == {"1": "suspended"}
        assert c.job(jid, agenda=False)["status"] == "suspended"
        time.sleep(3.5)  # longer than agenda_timeout: no timeout while suspended
        assert _stopped(pid)
        assert "timeout" not in _events(c, jid) and "suspend" in _events(c, jid)
        with pytest.raises(ClientError) as exc:
            c.control("suspend", [jid])
        assert exc.value.status == 409
        assert c.control("resume", [jid])[0]["status"] == "running"
        _until("the process runs again", lambda: _running(pid))
        # the timeout comes after what was left of it (about 1.5 s), not a whole 3 s
        _until("the timeout", lambda: "timeout" in _events(c, jid))
        times = {e["name"]: e["time"] for e in c.events(job=jid)}
        assert 1.0 < times["timeout"] - times["resume"] < 2.6
        (tmp_path / "go").touch()
        _until("the job completes", lambda: c.job(jid, agenda=False)["status"] == "complete")
        names = _events(c, jid)
        assert "resume" in names and "failed" not in names
        with pytest.raises(ClientError) as exc:
            c.control("resume", [jid])
        assert exc.value.status == 409


def test_kill_of_a_suspended_job_ends_its_process(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, secs=30)])
        jid = j["id"]
        pid = _pid(tmp_path / "pid.1")
        c.control("suspend", [f"{jid}:1"])
        _until("the process stopped", lambda: _stopped(pid))
        c.kill(jid)
        _until("the process ended", lambda: _group_states(pid) <= {"Z"})
        assert c.job(jid, agenda=False)["status"] == "killed"


def test_interrupt_migrate_complete_retire_shove(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, frames="1-3", secs=30)])
        jid = j["id"]
        _pid(tmp_path / "pid.1")
        # interrupt: back to pending, no failed attempt counted; it runs again
        (tmp_path / "pid.1").unlink()
        assert c.control("interrupt", [f"{jid}:1"])[0]["status"] == "pending"
        _pid(tmp_path / "pid.1")
        item = c.work(jid, "1")
        assert item["retry"] == 0 and item["status"] == "running"
        names = _events(c, jid)
        assert "interrupt" in names and "failed" not in names and "retry" not in names
        # complete J:N of a pending item, then the running one (stopped first)
        assert c.control("complete", [f"{jid}:3"])[0]["status"] == "complete"
        assert c.control("complete", [f"{jid}:1"])[0]["status"] == "complete"
        with pytest.raises(ClientError) as exc:
            c.control("complete", [f"{jid}:1"])
        assert exc.value.status == 409
        # migrate: the only host is avoided, so the item stays pending
        _pid(tmp_path / "pid.2")
        assert c.control("migrate", [jid])[0]["status"] in ("pending", "running")
        time.sleep(1.0)
        assert _items(c, jid)["2"] == "pending"
        assert "migrate" in _events(c, jid)
        # retire: what has not started is complete, the job ends complete
        assert c.control("retire", [jid])[0]["status"] == "complete"
        assert _items(c, jid) == {"1": "complete", "2": "complete", "3": "complete"}
        with pytest.raises(ClientError) as exc:
            c.control("retire", [jid])
        assert exc.value.status == 409
        with pytest.raises(ClientError) as exc:
            c.control("shove", [jid])
        assert exc.value.status == 409


def test_complete_releases_a_dependent_and_shove_goes_first(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        [first, dep] = c.submit([
            {"name": "first", "label": "first", "agenda": "1-2", "status": "blocked",
             "package": {"cmdline": "false"}},
            {"name": "after", "package": {"cmdline": "true"},
             "dependency": "link-complete-job-first"},
        ])  # fmt: skip
        c.kill(f"{first['id']}:2")
        c.control("complete", [f"{first['id']}:1", f"{first['id']}:2"])  # a killed one too
        _until("the dependent completes",
               lambda: c.job(dep["id"], agenda=False)["status"] == "complete")  # fmt: skip
        assert c.job(first["id"], agenda=False)["status"] == "complete"

        # shove: with the only slot busy, a priority-9000 job shoved goes before a priority-1 one
        c.submit([_job(tmp_path, secs=30)])
        _pid(tmp_path / "pid.1")
        low, high = (x["id"] for x in c.submit([
            {"name": "low", "package": {"cmdline": "true"}, "priority": 9000},
            {"name": "high", "package": {"cmdline": "true"}, "priority": 1},
        ]))  # fmt: skip
        assert c.control("shove", [low]) == [{"target": str(low), "status": "pending"}]
        (tmp_path / "go").touch()
        _until("both ran", lambda: c.job(high, agenda=False)["status"] == "complete")
        starts = [e["job"] for e in c.events(type="job") if e["name"] == "running"]
        assert starts.index(low) < starts.index(high)
        assert "shove" in _events(c, low)


def test_cli_commands_and_409(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, secs=30)])
        jid = j["id"]
        pid = _pid(tmp_path / "pid.1")
    env = farm.client_env()
    runner = CliRunner()
    res = runner.invoke(cli, ["suspend", f"{jid}.0", "--json"], env=env)
    assert res.exit_code == 0, res.output
    _until("the process stopped", lambda: _stopped(pid))
    res = runner.invoke(cli, ["resume", str(jid)], env=env)
    assert res.exit_code == 0, res.output
    _until("the process runs", lambda: _running(pid))
    http = httpx.Client(base_url=farm.url, headers={"Authorization": f"Bearer {farm.token}"})
    assert http.post(f"/api/v1/jobs/{jid}/resume").status_code == 409
    assert http.post(f"/api/v1/jobs/{jid}/interrupt").status_code == 200
    res = runner.invoke(cli, ["retire", str(jid)], env=env)
    assert res.exit_code == 0, res.output
    (tmp_path / "go").touch()
    with farm.client() as c:
        _until("retired", lambda: c.job(jid, agenda=False)["status"] == "complete")


def test_qb_functions(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=1, slots=1)
    qb.set_url(farm.url, farm.token)
    try:
        [job] = qb.submit(_job(tmp_path, frames="1-3", secs=30))
        jid = int(job["id"])
        pid = _pid(tmp_path / "pid.1")
        assert qb.suspend(jid) == [str(jid)]
        _until("the process stopped", lambda: _stopped(pid))
        assert qb.suspend(jid) == []  # nothing runs: left out, as Qube's verbs do
        assert qb.resume(jid) == [str(jid)]
        _until("the process runs", lambda: _running(pid))
        assert qb.completework(f"{jid}:2", f"{jid}:3") == [f"{jid}:2", f"{jid}:3"]
        assert qb.interrupt(jid) == [str(jid)]
        # pending again, or already running again (then nothing to shove: left out)
        assert qb.shove(jid) in ([str(jid)], [])
        assert qb.retire(jid) == [str(jid)]
        (tmp_path / "go").touch()  # what runs finishes
        assert qb.wait(jid, timeout=30) == {jid: "complete"}
        assert qb.complete is qb.retire and qb.retirework is qb.completework
    finally:
        qb.set_url(None)


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_suspended_work_through_restarts(start_farm: StartFarm, tmp_path: Path) -> None:
    """A supervisor restart keeps suspended work suspended on its host; a worker restart loses
    it (back to pending, the attempt counted) and the job stays suspended until resume."""
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, secs=30)])
        jid = j["id"]
        pid = _pid(tmp_path / "pid.1")
        c.control("suspend", [jid])
        _until("the process stopped", lambda: _stopped(pid))
    farm.restart_supervisor()
    with farm.client() as c:
        assert _items(c, jid) == {"1": "suspended"}
        time.sleep(1.0)  # the worker calls in again and lists it: it keeps it
        assert _items(c, jid) == {"1": "suspended"} and _stopped(pid)
        (tmp_path / "pid.1").unlink()
        farm.restart_worker(0)
        _until("the item lost", lambda: _items(c, jid) == {"1": "pending"})
        assert c.job(jid, agenda=False)["status"] == "suspended"
        assert c.control("resume", [jid])[0]["status"] == "pending"
        (tmp_path / "go").touch()
        _until("the job completes", lambda: c.job(jid, agenda=False)["status"] == "complete")
        assert c.work(jid, "1")["retry"] == 1


@pytest.mark.slow  # CI runs it (.ci/run); `python -m pytest -m slow`
def test_migrate_moves_work_to_another_host(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(None, workers=2, slots=1)
    with farm.client() as c:
        [j] = c.submit([_job(tmp_path, secs=30)])
        jid = j["id"]
        _until("it runs", lambda: c.work(jid, "1")["status"] == "running")
        first = c.work(jid, "1")["host"]
        assert c.control("migrate", [f"{jid}:1"])[0]["status"] == "pending"
        _until("it runs again", lambda: c.work(jid, "1")["status"] in ("running", "complete"))
        item = c.work(jid, "1")
        assert item["host"] != first and item["retry"] == 0
        (tmp_path / "go").touch()
        _until("it completes", lambda: c.job(jid, agenda=False)["status"] == "complete")
