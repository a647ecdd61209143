"""A dead worker costs seconds, not the host timeout (real supervisor and worker processes,
real HTTP): a SIGKILLed worker's items run elsewhere, a SIGTERMed one signs off, `triggerfish
run` restarts a worker that died, and a host that is down can be forgotten."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm, child_env, free_port
from triggerfish.client.client import Client

HOST_TIMEOUT = 30.0  # nothing here may wait for it


def running_on(c: Client, job: int, name: str) -> str | None:
    w = c.work(job, name)
    return str(w["host"]) if w["status"] == "running" else None


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def work_events(c: Client, job: int, name: str) -> list[tuple[str, str | None]]:
    return [(e["name"], e["host"]) for e in c.events(job=job, limit=1000)
            if e["type"] == "work" and e["work"] == name]  # fmt: skip


@pytest.mark.slow  # about 8 s
def test_a_sigkilled_worker_s_items_complete_on_another_host_before_the_host_timeout(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1, host_timeout=HOST_TIMEOUT)
    with farm.client() as c:
        [job] = c.submit([{"name": "frames", "cpus": 1,
                           "package": {"cmdline": "sleep 2; echo frame QB_FRAME_NUMBER",
                                       "range": "1-2"}}])  # fmt: skip
        victim = wait_for(lambda: running_on(c, job["id"], "1"), 20, "frame 1 running")
        [survivor] = set(farm.worker_names) - {victim}
        killed = time.monotonic()
        farm.kill_worker(farm.worker_names.index(victim))  # mid-frame
        # well before the host timeout (30 s): the frame went to the other host in seconds
        final = c.wait([job["id"]], timeout=15)
        assert time.monotonic() - killed < HOST_TIMEOUT / 2
        assert final == {job["id"]: "complete"}
        w = c.work(job["id"], "1")
        assert (w["host"], w["retry"]) == (survivor, 1)
        # the lost attempt counted: `retry`, then pending, then it ran on the survivor
        assert work_events(c, job["id"], "1") == [
            ("running", victim), ("retry", victim), ("pending", victim),
            ("running", survivor), ("complete", survivor), ("done", survivor),
        ]  # fmt: skip
        hosts = {h["name"]: h["state"] for h in c.hosts()}
        assert hosts == {victim: "down", survivor: "active"}
        [down] = [e for e in c.events(limit=1000) if e["name"] == "down"]
        assert (down["host"], down["data"]["why"]) == (victim, "gone")
        assert "frame 1" in c.log(job["id"], "1")


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_a_sigtermed_worker_signs_off_and_its_host_can_be_removed(
    start_farm: StartFarm, db_url: str
) -> None:
    farm = start_farm(db_url, workers=2, slots=1, host_timeout=HOST_TIMEOUT)
    victim, survivor = farm.worker_names
    with farm.client() as c:
        farm.workers[0].send_signal(signal.SIGTERM)
        time.sleep(0.5)
        [job] = c.submit([{"name": "after", "package": {"cmdline": "echo hi", "range": "1-3"}}])
        assert c.wait([job["id"]], timeout=30) == {job["id"]: "complete"}
        assert farm.workers[0].wait(30) == 0
        assert {w["host"] for w in c.job(job["id"])["agenda"]} == {survivor}
        events = c.events(limit=1000)
        [down] = [e for e in events if e["name"] == "down"]
        assert (down["host"], down["data"]["why"]) == (victim, "signed off")
        assert not [e for e in events if e["name"] == "assigned" and e["host"] == victim]
        # the host is down: forget it (the CLI, with the farm's admin token)
        env = {**child_env(), **farm.client_env()}
        cli = [sys.executable, "-m", "triggerfish", "host", "remove"]
        busy = subprocess.run([*cli, survivor], env=env, capture_output=True, text=True)
        assert busy.returncode == 1
        assert f"host {survivor!r} is active" in busy.stderr
        done = subprocess.run([*cli, victim], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert [h["name"] for h in c.hosts()] == [survivor]
        again = subprocess.run([*cli, victim], env=env, capture_output=True, text=True)
        assert again.returncode == 1 and "does not exist" in again.stderr


def test_host_verbs_need_an_admin(start_farm: StartFarm) -> None:
    farm = start_farm(None, workers=1, slots=1, host_timeout=HOST_TIMEOUT)
    [name] = farm.worker_names
    with farm.client() as admin:
        user = admin.add_user("bob", ["submit"])["token"]
    with Client(farm.url, token=user) as bob:
        for verb in (bob.host_down, bob.remove_host):
            with pytest.raises(Exception, match="permission 'admin'"):
                verb(name)
        assert [h["state"] for h in bob.hosts()] == ["active"]


def _children(proc: subprocess.Popen[bytes], word: str) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(proc.pid).children():
        try:
            if word in p.cmdline():
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _wait_banner(run: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until ``triggerfish run`` says it listens (its farm started)."""
    seen = threading.Event()

    def read() -> None:
        assert run.stdout is not None
        for line in run.stdout:
            if b"listening on" in line:
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), "triggerfish run did not start"


@pytest.mark.slow  # about 8 s
def test_triggerfish_run_restarts_a_worker_that_died(tmp_path: Path) -> None:
    data = tmp_path / "farm"
    port = free_port()
    env = {**child_env(), "TRIGGERFISH_DATA_DIR": str(data)}
    run = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "run", "--workers", "1", "--port", str(port),
         "--data-dir", str(data), "--host-timeout", str(HOST_TIMEOUT)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_banner(run)  # its workers are up (a worker that dies while it starts is fatal)
        [first] = wait_for(lambda: _children(run, "worker"), 60, "the worker started")
        with Client(url, data_dir=data, timeout=5) as c:
            [host] = wait_for(
                lambda: [h["name"] for h in c.hosts() if h["state"] == "active"], 60, "registered"
            )
            [job] = c.submit([{"name": "long", "package": {"cmdline": "sleep 60"}}])
            wait_for(lambda: c.job(job["id"])["status"] == "running", 20, "the job running")
            first.kill()  # SIGKILL
            # its host is marked down at once (not after the host timeout), its work pending
            wait_for(lambda: any(e["name"] == "down" for e in c.events(limit=1000)), 10, "down")
            # a new worker of that name: it registers again and takes the work again
            [second] = wait_for(lambda: _children(run, "worker"), 20, "the worker restarted")
            assert second.pid != first.pid
            w = wait_for(lambda: [x for x in c.job(job["id"])["subjobs"]
                                  if x["status"] == "running" and x["retry"] == 1],
                         20, "the job running again")  # fmt: skip
            assert w[0]["host"] == host
            names = [e["name"] for e in c.events(job=job["id"], limit=1000)
                     if e["type"] == "subjob"]  # fmt: skip
            assert names == ["running", "retry", "pending", "running"]
            c.kill(job["id"])
    finally:
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=60)
        print(err.decode())  # (shown if the test fails)
    assert f"worker {host} exited with code -9" in err.decode()
    assert "restarting it" in err.decode()


def test_local_farm_revive_marks_down_and_restarts(start_farm: StartFarm) -> None:
    farm: LocalFarm = start_farm(None, workers=1, slots=1, host_timeout=HOST_TIMEOUT)
    [name] = farm.worker_names
    old = farm.workers[0].pid
    os.kill(old, signal.SIGKILL)
    farm.workers[0].wait(10)
    [dead] = farm.revive()
    assert (dead.name, dead.code) == (name, -signal.SIGKILL)
    with farm.client() as c:
        assert {h["name"]: h["state"] for h in c.hosts()}[name] == "down"
        wait_for(lambda: farm.revive() == [] and farm.workers[0].pid != old, 10, "restarted")
        wait_for(lambda: [h for h in c.hosts() if h["state"] == "active"], 30, "registered")
    assert farm.revive() == []  # reported once


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
@pytest.mark.parametrize("path", ["small body", "big body"])
def test_a_long_poll_whose_connection_closes_takes_its_host_down(
    start_farm: StartFarm, path: str
) -> None:
    """The pull's connection closing is seen whatever the body's size (a small one, and one of
    300 KiB that arrives in many reads)."""
    farm = start_farm(None, workers=0, host_timeout=HOST_TIMEOUT)
    api = f"{farm.url}/api/v1"
    auth = {"Authorization": f"Bearer {farm.token}"}  # an admin may act as a worker
    with farm.client() as c:
        [job] = c.submit([{"name": "one", "package": {"cmdline": "true", "range": "1"}}])
        reg = httpx.post(f"{api}/workers/register", json={"name": "ghost", "slots": 1},
                         headers=auth).json()  # fmt: skip
        pull = {"session": reg["session"], "running": [], "wait": 0}
        [a] = httpx.post(f"{api}/workers/ghost/pull", json=pull, headers=auth).json()["assignments"]
        pad = " " * (300 * 1024 if path == "big body" else 0)
        body = json.dumps({**pull, "running": [a["token"]], "wait": 30}) + pad
        head = (f"POST /api/v1/workers/ghost/pull HTTP/1.1\r\nhost: x\r\n"
                f"authorization: Bearer {farm.token}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n")  # fmt: skip
        with socket.create_connection(("127.0.0.1", farm.port)) as sock:
            sock.sendall(head.encode() + body.encode())
            time.sleep(0.5)  # parked: no answer yet
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        # the "worker" died: its host goes down in seconds, its item is pending again
        wait_for(lambda: c.hosts()[0]["state"] == "down", 15, "the host down")
        assert [e["name"] for e in c.events(job=job["id"], limit=100)
                if e["type"] == "work"] == ["running", "retry", "pending"]  # fmt: skip
