"""A worker's commands never outlive it; tasks start warm (issue 15, items 1 and 11).

Real supervisor, real worker processes, real commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm, child_env
from triggerfish.tasks import Tasks
from triggerfish.worker.guardian import read_state

# the command: a background child, a child that leaves the group (setsid), a chatty child
# and a nested shell with a grandchild; every pid goes to PIDS
TREE = (
    "echo $$ >> PIDS; sleep 300 & echo $! >> PIDS; setsid sleep 301 & echo $! >> PIDS; "
    "(while :; do echo chatty; done) & echo $! >> PIDS; "
    "sh -c 'sleep 302 & echo $! >> PIDS; wait' & echo $! >> PIDS; wait"
)
TREE_PIDS = 6


def alive(pid: int) -> bool:
    """Running (a zombie has ended: here nobody may reap the orphans)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def survivors(pids: list[int], within: float = 2.0) -> list[int]:
    """The pids still running after ``within`` seconds (returns as soon as none is)."""
    deadline = time.monotonic() + within
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def start_tree(farm: LocalFarm, tmp_path: Path) -> list[int]:
    """Submit the command tree; its pids once all of them are written."""
    pids_file = tmp_path / "pids"
    with farm.client() as c:
        c.submit([{"name": "tree", "package": {"cmdline": TREE.replace("PIDS", str(pids_file))}}])

    def written() -> bool:
        return pids_file.exists() and len(pids_file.read_text().split()) >= TREE_PIDS

    wait_for(written)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    return pids


def worker_children(farm: LocalFarm, index: int = 0) -> list[psutil.Process]:
    return psutil.Process(farm.workers[index].pid).children()


def guardian_of(farm: LocalFarm, index: int = 0) -> psutil.Process:
    found = [p for p in worker_children(farm, index) if "guardian.py" in " ".join(p.cmdline())]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_a_sigkilled_worker_leaves_no_process_of_its_commands(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    farm = start_farm(workers=1)
    pids = start_tree(farm, tmp_path)
    tasks = [p.pid for p in worker_children(farm) if "triggerfish.tasks.host" in p.cmdline()]
    assert tasks, "the worker has a task process"
    farm.kill_worker(0)
    assert survivors(pids + tasks) == []


@pytest.mark.slow
def test_a_restarted_worker_ends_what_its_previous_life_left(
    start_farm: StartFarm, tmp_path: Path
) -> None:
    farm = start_farm(workers=1)
    pids = start_tree(farm, tmp_path)
    leader = pids[0]  # the command's shell: its process group
    states = list((farm.data_dir / "workers").glob("worker-*.json"))
    assert len(states) == 1

    def recorded() -> bool:
        state = read_state(str(states[0])) or {}
        return leader in [g for g, _ in state.get("groups", [])]

    wait_for(recorded)
    guardian = guardian_of(farm)
    guardian.suspend()  # both die, and the guardian before it could act on the worker's death
    farm.kill_worker(0)
    guardian.kill()
    guardian.wait(10)
    time.sleep(0.5)
    assert alive(leader), "with its guardian dead too, the command outlives its worker"
    name = farm.worker_names[0]
    env = {**child_env(), "TRIGGERFISH_WORKER_TOKEN": farm.token or ""}
    args = ["worker", "--supervisor", farm.url, "--name", name, "--data-dir", str(farm.data_dir)]
    again = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", *args, "--log-level", "warning"],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: not any(alive(p) for p in pids))
        assert again.poll() is None
    finally:
        again.terminate()
        again.wait(30)


def test_a_stale_state_file_kills_no_recycled_pid(tmp_path: Path) -> None:
    """A group whose leader's start time differs from the recorded one is someone else's."""
    from triggerfish.worker.guardian import end_previous_life, start_time, write_state

    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        began = start_time(other.pid)
        assert began is not None
        path = str(tmp_path / "state.json")
        write_state(path, {"life": "old", "worker": 0, "groups": [[other.pid, began - 1]]})
        assert end_previous_life(path, "new") == (0, None)
        assert other.poll() is None
        write_state(path, {"life": "old", "worker": 0, "groups": [[other.pid, began]]})
        assert end_previous_life(path, "new") == (1, None)
        assert other.wait(10) == -9
    finally:
        other.kill()
        other.wait()


def test_the_task_process_starts_with_the_worker(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path
) -> None:
    farm = start_farm(workers=1)
    before = time.time()
    with farm.client() as c, Tasks(c) as tasks:
        pid = tasks.result(tasks.add(f"{tasks_app}:pid"), timeout=60)
    assert psutil.Process(pid).ppid() == farm.workers[0].pid
    # it was started before the task was added: at the worker's start
    assert psutil.Process(pid).create_time() < before
    assert os.getpid() != pid


@pytest.mark.slow
def test_a_guardian_that_dies_is_replaced(start_farm: StartFarm, tmp_path: Path) -> None:
    farm = start_farm(workers=1)
    pids = start_tree(farm, tmp_path)
    first = guardian_of(farm)
    first.kill()
    first.wait(10)

    def replaced() -> bool:
        found = [p for p in worker_children(farm) if "guardian.py" in " ".join(p.cmdline())]
        return bool(found) and found[0].pid != first.pid

    wait_for(replaced)
    farm.kill_worker(0)
    assert survivors(pids) == []
