"""The base issue's checks, end to end: real supervisor and worker processes, real HTTP,
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm


def farm_auth(farm: LocalFarm) -> dict[str, str]:
    """The header of raw HTTP requests: the farm's local admin token."""
    return {"Authorization": f"Bearer {farm.token}"}


def _pipeline(frames: str, cmd: str, cpus: int = 2) -> list[dict]:
    return [
        {"name": label, "label": label, "cpus": cpus, "priority": prio,
         "package": {"cmdline": cmd.replace("LABEL", label), "range": frames}}
        for label, prio in (("ribgen", 10), ("render", 20), ("composite", 30))
    ]  # fmt: skip


def test_pgrp_of_three_cmdrange_jobs_runs_to_the_end(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=2)
    with farm.client() as c:
        jobs = c.submit(
            _pipeline("1-8", "sleep 0.05; echo LABEL frame QB_FRAME_NUMBER job $QBJOBID")
        )
        assert len({j["pgrp"] for j in jobs}) == 1 and jobs[0]["pgrp"] == jobs[0]["id"]
        final = c.wait([j["id"] for j in jobs], timeout=60)
        assert set(final.values()) == {"complete"}
        hosts = set()
        for j in jobs:
            detail = c.job(j["id"])
            assert detail["todotally"]["complete"] == 8
            for w in detail["agenda"]:
                assert w["status"] == "complete" and w["exit_code"] == 0
                hosts.add(w["host"])
            log = c.log(j["id"], "3")
            assert f"{j['label']} frame 3 job {j['id']}" in log
        assert hosts == set(farm.worker_names)  # both workers took part
        events = c.all_events()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    per_work = Counter((e["job"], e["work"], e["name"]) for e in events if e["type"] == "work")
    for j in jobs:
        for f in range(1, 9):
            assert per_work[(j["id"], str(f), "complete")] == 1
            assert per_work[(j["id"], str(f), "done")] == 1
            assert per_work[(j["id"], str(f), "running")] == 1
    job_events = [(e["job"], e["name"]) for e in events if e["type"] == "job"]
    for j in jobs:
        assert (j["id"], "submit") in job_events and (j["id"], "done") in job_events


@pytest.mark.slow  # 10 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_supervisor_sigkill_loses_nothing(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=2)
    with farm.client() as c:
        jobs = c.submit(_pipeline("1-20", "sleep 0.2", cpus=2))
        ids = [j["id"] for j in jobs]
        deadline = time.monotonic() + 30
        while sum(j["todotally"]["complete"] for j in c.jobs(pgrp=ids[0])) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        before_events = c.all_events()
        before_jobs = {j["id"]: j for j in c.jobs(pgrp=ids[0])}
    farm.kill_supervisor()
    farm.restart_supervisor()
    with farm.client() as c:
        after_events = c.all_events()
        # every event committed before the crash is still there, unchanged
        assert after_events[: len(before_events)] == before_events
        after_jobs = {j["id"]: j for j in c.jobs(pgrp=ids[0])}
        assert set(after_jobs) == set(before_jobs)
        for jid, j in before_jobs.items():
            assert after_jobs[jid]["todotally"]["complete"] >= j["todotally"]["complete"]
        final = c.wait(ids, timeout=90)
        assert set(final.values()) == {"complete"}
        events = c.all_events()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    done = Counter(
        (e["job"], e["work"]) for e in events if e["type"] == "work" and e["name"] == "complete"
    )
    assert set(done.values()) == {1} and len(done) == 60  # each frame completed exactly once


@pytest.mark.slow  # 8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_worker_sigkill_mid_frame_runs_the_frame_on_the_other_worker(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1, host_timeout=2.0)
    victim, survivor = farm.worker_names
    with farm.client() as c:
        [job] = c.submit([{"name": "slow", "cpus": 2,
                           "package": {"cmdline": "sleep 2; echo done QB_FRAME_NUMBER",
                                       "range": "1-2"}}])  # fmt: skip
        deadline = time.monotonic() + 20
        mine = None
        while mine is None:
            assert time.monotonic() < deadline
            for w in c.job(job["id"])["agenda"]:
                if w["status"] == "running" and w["host"] == victim:
                    mine = w["name"]
            time.sleep(0.05)
        farm.kill_worker(0)
        final = c.wait([job["id"]], timeout=60)
        assert final == {job["id"]: "complete"}
        w = c.work(job["id"], mine)
        assert w["host"] == survivor and w["retry"] >= 1
        hosts = {h["name"]: h["state"] for h in c.hosts()}
        assert hosts[victim] == "down"
        names = [(e["name"], e["type"]) for e in c.events(job=job["id"], limit=1000)
                 if e["work"] == mine]  # fmt: skip
        assert ("retry", "work") in names or ("pending", "work") in names
        assert names.count(("complete", "work")) == 1


BAD_SUBMISSIONS = [
    (b'[{"name": "x", ', "malformed JSON"),
    (b'[{"name": "x", "package": {"cmdline": "true"}, "colour": 1}]', "jobs[0].colour"),
    (b'[{"name": "x", "package": {"cmdline": "true"}, "priority": "high"}]', "jobs[0].priority"),
    (b'[{"name": "x", "package": {"cmdline": "true", "range": "1-x"}}]', "jobs[0].package.range"),
    (b'[{"label": "a", "package": {"cmdline": "true"}},'
     b' {"label": "a", "package": {"cmdline": "true"}}]', "jobs[1].label"),
    (b'[{"label": "ren-der", "package": {"cmdline": "true"}}]', "jobs[0].label"),
    (b'[{"package": {"cmdline": "true"}}, {"pgrp": 999, "package": {"cmdline": "true"}}]',
     "jobs[1].pgrp"),
]  # fmt: skip


def test_bad_input_is_refused_and_changes_nothing(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=0)
    api = f"{farm.url}/api/v1"
    with farm.client() as c, httpx.Client(headers=farm_auth(farm)) as h:
        [ok] = c.submit([{"name": "keep", "label": "keep", "status": "blocked",
                          "package": {"cmdline": "true", "range": "1-3"}}])  # fmt: skip

        def snapshot() -> tuple[object, ...]:
            return (c.jobs(), c.job(ok["id"]), c.all_events())

        before = snapshot()
        for body, field in BAD_SUBMISSIONS:
            r = h.post(f"{api}/jobs", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422, body
            assert field in r.json()["error"]["message"], r.json()
        bad_control = [
            ({"action": "kill", "targets": ["999"]}, 404, "999"),
            ({"action": "kill", "targets": [str(ok["id"]), f"{ok['id']}:77"]}, 404, "77"),
            ({"action": "kill", "targets": [f"{ok['id']}.5"]}, 404, "instance"),
            ({"action": "unblock", "targets": [f"{ok['id']}:1"]}, 409, "not blocked"),
            ({"action": "block", "targets": [str(ok["id"])]}, 409, "blocked"),
            ({"action": "explode", "targets": [str(ok["id"])]}, 422, "action"),
            ({"action": "modify", "targets": [str(ok["id"])], "fields": {"priority": 0}}, 422,
             "priority"),
            ({"action": "modify", "targets": [str(ok["id"])], "fields": {"status": "x"}}, 422,
             "status"),
            ({"action": "kill", "targets": ["x:y:z"]}, 422, "target"),
        ]  # fmt: skip
        for body, code, text in bad_control:
            r = h.post(f"{api}/control", json=body)
            assert r.status_code == code, (body, r.text)
            assert text in r.json()["error"]["message"], r.json()
        assert h.get(f"{api}/jobs/999").status_code == 404
        assert h.get(f"{api}/jobs/{ok['id']}/work/nope").status_code == 404
        assert h.get(f"{api}/jobs?status=nonsense").status_code == 422
        assert snapshot() == before


def test_kill_stops_the_whole_process_group_of_a_running_item(
    start_farm: StartFarm, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1)
    marker = tmp_path / "pids"
    # the command leaves a grandchild behind: the kill must reach it too
    cmd = f"sleep 300 & echo $! >> {marker}; echo $$ >> {marker}; wait"
    with farm.client() as c:
        [job] = c.submit([{"name": "long", "package": {"cmdline": cmd, "range": "1"}}])
        deadline = time.monotonic() + 20
        while not (marker.exists() and len(marker.read_text().split()) == 2):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = [int(p) for p in marker.read_text().split()]
        assert c.kill(job["id"])[0]["status"] == "killed"
        deadline = time.monotonic() + 15
        alive = pids
        while alive and time.monotonic() < deadline:
            alive = [p for p in pids if _alive(p)]
            time.sleep(0.1)
        assert alive == [], "the item's processes outlived the kill"
        assert c.work(job["id"], "1")["status"] == "killed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie that nobody reaped yet is dead for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # (gone between open and read: ESRCH)
        return False


BAD_CALLBACKS = [
    ({"triggers": "complete-job-1 AND&& done-job-2", "code": "unblock-self"},
     "jobs[0].callbacks[0].triggers", "column"),
    ({"triggers": "complete-job-1", "language": "cobol", "code": "x"},
     "jobs[0].callbacks[0].language", "cobol"),
    ({"triggers": "complete-job-1", "language": "python", "code": "  "},
     "jobs[0].callbacks[0].code", "needs code"),
    ({"triggers": "complete-job-1", "language": "qube", "code": ""},
     "jobs[0].callbacks[0].code", "at least one action"),
    ({"triggers": "complete-job-parent", "code": "unblock-self"},
     "jobs[0].callbacks[0].triggers", "parent"),
]  # fmt: skip


def test_bad_callbacks_are_refused_over_http_and_store_nothing(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    farm = start_farm("", workers=0)
    with farm.client() as c, httpx.Client(headers=farm_auth(farm)) as h:
        before = (c.jobs(), c.all_events())
        for cb, field, text in BAD_CALLBACKS:
            body = [{"label": "a", "package": {"cmdline": "true"}, "callbacks": [cb]}]
            r = h.post(f"{farm.url}/api/v1/jobs", json=body)
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert err["field"] == field and text in err["message"], err
        r = h.post(f"{farm.url}/api/v1/jobs", json=[
            {"label": "a", "package": {"cmdline": "true"}},
            {"label": "a", "package": {"cmdline": "true"}, "dependency": "link-complete-job-a"},
        ])  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["field"] == "jobs[1].label"
        assert (c.jobs(), c.all_events()) == before


def test_stopping_the_supervisor_answers_open_long_polls(start_farm: StartFarm) -> None:
    """SIGTERM: an event follower's long poll and a worker's pull get a normal (empty)
    answer, instead of being cut off when the graceful-shutdown time runs out."""
    import signal
    import threading

    farm = start_farm(None, workers=1, slots=1)
    headers = farm_auth(farm)
    with httpx.Client(base_url=farm.url, headers=headers, timeout=60) as http:
        head = http.get("/api/v1/events", params={"limit": 1}).json()["head"]
    answers: list[httpx.Response | Exception] = []

    def follow() -> None:
        try:
            with httpx.Client(base_url=farm.url, headers=headers, timeout=60) as http:
                answers.append(http.get("/api/v1/events", params={"after": head, "wait": 50}))
        except Exception as exc:
            answers.append(exc)

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)  # the poll is open (nothing happens on an idle farm)
    assert farm.supervisor is not None
    farm.supervisor.send_signal(signal.SIGTERM)
    follower.join(30)
    assert not follower.is_alive()
    assert len(answers) == 1
    answer = answers[0]
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 200 and answer.json()["events"] == []
    # uvicorn re-raises the signal once it has shut down cleanly
    assert farm.supervisor.wait(30) in (0, -signal.SIGTERM)
