"""Clients ride through supervisor restarts, waits end on jobs that cannot finish, and events
tell the truth: real supervisor and worker processes, real CLI processes, real HTTP, both
stores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.client import CannotFinish

TF = [sys.executable, "-m", "triggerfish"]


def env_of(farm: LocalFarm) -> dict[str, str]:
    return {**child_env(), **farm.client_env(), "TRIGGERFISH_JSON": ""}


def until(what: str, pred: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``pred`` until it holds (a guard against a hang, not a timed assert)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def start_cli(farm: LocalFarm, tmp_path: Path, name: str, *args: str) -> tuple[
    subprocess.Popen[bytes], Path, Path
]:  # fmt: skip
    """``triggerfish ARGS`` in the background; its stdout and stderr go to files."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    files: list[IO[bytes]] = [out.open("wb"), err.open("wb")]
    proc = subprocess.Popen([*TF, *args], env=env_of(farm), stdout=files[0], stderr=files[1])
    for f in files:
        f.close()  # the child has its own copies
    return proc, out, err


def restart_when_seen(farm: LocalFarm, err: Path) -> None:
    """SIGKILL the supervisor; start it again once the client said it lost it."""
    farm.kill_supervisor()
    until("the client says the supervisor is unreachable",
          lambda: "supervisor unreachable at" in err.read_text())  # fmt: skip
    farm.restart_supervisor()


@pytest.mark.slow  # a supervisor restart and a 3 s job: ~8 s
def test_wait_returns_0_across_a_supervisor_sigkill_and_restart(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        [job] = c.submit({"name": "long", "package": {"cmdline": "sleep 3"}})
        until("the job runs", lambda: c.job(job["id"], agenda=False)["status"] == "running")
    proc, out, err = start_cli(farm, tmp_path, "wait", "wait", str(job["id"]))
    restart_when_seen(farm, err)
    assert proc.wait(timeout=120) == 0, err.read_text()
    said = err.read_text()
    assert said.count("supervisor unreachable at") == 1  # said once, not per retry
    assert "reconnected to the supervisor" in said
    assert out.read_text().split() == [str(job["id"]), "complete"]


@pytest.mark.slow  # a supervisor restart: ~6 s
def test_events_follow_goes_on_across_a_restart(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    proc, out, err = start_cli(farm, tmp_path, "follow", "events", "--follow", "--json")
    try:
        with farm.client() as c:
            [first] = c.submit({"name": "before", "package": {"cmdline": "true"}})
            c.wait(first["id"], timeout=60)

        def seen() -> list[dict[str, Any]]:
            return [json.loads(line) for line in out.read_text().splitlines()]

        def ended(jid: int) -> bool:
            return any(e["job"] == jid and e["name"] == "done" for e in seen())

        until("the first job's end is printed", lambda: ended(first["id"]))
        restart_when_seen(farm, err)
        with farm.client() as c:
            [second] = c.submit({"name": "after", "package": {"cmdline": "true"}})
            c.wait(second["id"], timeout=60)
            head = c.event_head()
        until("the second job's end is printed", lambda: ended(second["id"]))
        until("every event is printed", lambda: seen()[-1]["seq"] >= head)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    seqs = [e["seq"] for e in seen()]
    assert seqs == sorted(set(seqs))  # none twice, in order
    assert seqs[-1] - seqs[0] + 1 == len(seqs)  # none lost across the restart
    assert "reconnected to the supervisor" in err.read_text()


def test_wait_on_a_job_behind_a_failed_upstream_exits_1_naming_it(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    with farm.client() as c:
        up, down = c.submit([
            {"label": "render", "package": {"cmdline": "exit 3"}},
            {"label": "encode", "package": {"cmdline": "true"},
             "dependency": "link-complete-job-render"},
        ])  # fmt: skip
    done = subprocess.run([*TF, "wait", str(up["id"]), str(down["id"])], env=env_of(farm),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert (
        f"cannot finish: job {down['id']}: waits for complete-job-render: "
        f"job {up['id']} failed" in done.stderr
    )
    rows = dict(line.strip().split(None, 1) for line in done.stdout.strip().splitlines())
    assert rows[str(up["id"])].strip() == "failed"
    assert rows[str(down["id"])].startswith("blocked")
    with farm.client() as c:
        assert c.job(down["id"], agenda=False)["stuck"] == (
            f"waits for complete-job-render: job {up['id']} failed"
        )
        assert c.job(up["id"], agenda=False)["stuck"] == ""
        [listed] = [j for j in c.jobs(pgrp=up["pgrp"]) if j["id"] == down["id"]]
        assert listed["stuck"].endswith(f"job {up['id']} failed")


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_submit_wait_prints_why_a_job_cannot_finish(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "render", "package": {"cmdline": "exit 3"}},
        {"label": "encode", "package": {"cmdline": "true"},
         "dependency": "link-complete-job-render"},
    ]))  # fmt: skip
    done = subprocess.run([*TF, "submit", "--file", str(jobs), "--wait"], env=env_of(farm),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    up, down = (int(x) for x in done.stdout.split()[:2])
    assert f"cannot finish: job {down}: waits for complete-job-render: job {up} failed" in (
        " ".join(done.stderr.split())  # (rich may wrap the line)
    )


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_a_job_released_frame_by_frame_emits_one_running_job(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1)
    frames = 6
    with farm.client() as c:
        render, thumbs = c.submit([
            {"label": "render", "package": {"cmdline": "sleep 0.3", "range": f"1-{frames}"}},
            {"label": "thumbs", "package": {"cmdline": "true"},
             "agenda": [{"name": str(f), "status": "blocked"} for f in range(1, frames + 1)],
             "callbacks": [{"triggers": "complete-work-render-$f", "language": "qube",
                            "code": "unblock-work-self"}]},
        ])  # fmt: skip
        assert set(c.wait([render["id"], thumbs["id"]], timeout=120).values()) == {"complete"}
        events = c.all_events(job=thumbs["id"])
    job_events = Counter(e["name"] for e in events if e["type"] == "job")
    assert job_events["running"] == 1 and job_events["pending"] == 1
    assert Counter(e["name"] for e in events if e["type"] == "work")["running"] == frames


def test_a_dependency_on_a_job_that_does_not_exist_is_refused(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=0)
    body = [{"package": {"cmdline": "true"}, "dependency": "link-complete-job-999"}]
    answer = httpx.post(f"{farm.url}/api/v1/jobs", json=body,
                        headers={"Authorization": f"Bearer {farm.token}"})  # fmt: skip
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "jobs[0].dependency"
    assert "job 999" in error["message"] and "does not exist" in error["message"]
    with farm.client() as c:
        assert c.jobs() == []


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_client_wait_ends_when_a_frame_can_no_longer_be_released(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=2)
    with farm.client() as c:
        render, thumbs = c.submit([
            {"label": "render", "package": {"cmdline": "test QB_FRAME_NUMBER != 1",
                                            "range": "1-3"}},
            {"label": "thumbs", "package": {"cmdline": "true", "range": "1-3"},
             "dependency": "link-complete-work-render"},
        ])  # fmt: skip
        with pytest.raises(CannotFinish) as info:
            c.wait([render["id"], thumbs["id"]], timeout=120)
        assert info.value.statuses[render["id"]] == "failed"
        assert info.value.stuck == {
            thumbs["id"]: f"item 1 waits for complete-work-render-1: {render['id']}:1 failed"
        }
        agenda = {w["name"]: w["status"] for w in c.job(thumbs["id"])["agenda"]}
    assert agenda == {"1": "blocked", "2": "complete", "3": "complete"}
