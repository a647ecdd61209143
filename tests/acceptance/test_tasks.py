"""Tasks end to end: a real supervisor and workers, tasks in task processes, SQLite and
PostgreSQL. The task functions are in ``tasks_app.py`` next to this file."""

from __future__ import annotations

import base64
import time
from collections import Counter
from pathlib import Path

import pytest
from farms import StartFarm

from triggerfish.errors import ClientError
from triggerfish.tasks import TaskFailed, Tasks

APP = "tasks_app"


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_result_traceback_and_output(start_farm: StartFarm, tasks_app: str, tmp_path: Path,
                                     db_url: str) -> None:  # fmt: skip
    farm = start_farm(db_url, workers=1, slots=2)
    with farm.client() as c, Tasks(c) as tasks:
        ok = tasks.add(f"{APP}:echo", {"a": [1, 2]})
        bad = tasks.add(f"{APP}:boom", "x", retries=1)
        assert tasks.result(ok, timeout=60) == {"got": {"a": [1, 2]}}
        with pytest.raises(TaskFailed) as failed:
            tasks.result(bad, timeout=60)
        info = tasks.get(bad)
        assert "echo says {'a': [1, 2]}" in c.log(ok, "task")
    assert failed.value.status == "failed"
    assert info["error"] == "ValueError: kaput x" and info["retry"] == 1
    assert info["traceback"] and "raise ValueError" in info["traceback"]
    assert info["traceback"] in str(failed.value)


@pytest.mark.slow  # 8 s on a loaded machine: CI runs it (.ci/run); `python -m pytest -m slow`
def test_poison_tasks_fail_alone_and_stay_failed(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=1, allow_pickle=True)
    not_base64 = {"target": f"{APP}:echo", "params": "%%%", "encoding": "pickle"}
    bad_pickle = {"target": f"{APP}:echo", "encoding": "pickle",
                  "params": base64.b64encode(b"not a pickle").decode()}  # fmt: skip
    with farm.client() as c, Tasks(c) as tasks:
        poison = {
            tasks.add("no_such_module:fn"): "no module 'no_such_module'",
            tasks.add(f"{APP}:missing"): f"module '{APP}' has no attribute 'missing'",
            tasks.add(f"{APP}:undecorated"): "is not marked with @triggerfish.tasks.task",
            tasks.add("greeter:nothing"): "service 'greeter' has no attribute 'nothing'",
            c.add_task(not_base64)["id"]: "params: not base64",
            c.add_task(bad_pickle)["id"]: "params: the pickle does not load",
            tasks.add(f"{APP}:die"): "the task process ended: exited with 3",
            tasks.add(f"{APP}:not_json"): "the return value is not JSON",
        }
        good = tasks.add(f"{APP}:echo", 1)
        pickled = tasks.add(f"{APP}:kinds", {1, 2}, pickle=True)
        assert tasks.result(good, timeout=60) == {"got": 1}
        assert tasks.result(pickled, timeout=60) == "set"
        for tid, why in poison.items():
            info = tasks.wait(tid, timeout=60)
            assert info["status"] == "failed", info
            assert why in info["error"], info
        assert farm.check() == []  # the worker is still the same process
        farm.restart_supervisor()
    with farm.client() as c, Tasks(c) as tasks:
        after = tasks.add(f"{APP}:echo", 2)
        assert tasks.result(after, timeout=60) == {"got": 2}
        for tid in poison:
            assert tasks.get(tid)["status"] == "failed"  # never tried again
        ran = [e for e in c.all_events() if e["name"] == "running" and e["type"] == "work"]
    assert Counter(e["job"] for e in ran if e["job"] in poison) == {t: 1 for t in poison}


def test_bad_requests_store_nothing(start_farm: StartFarm, tasks_app: str, tmp_path: Path) -> None:
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=0)
    with farm.client() as c:
        cases = [
            ({"target": "no colon"}, "target"),
            ({"target": "m:f", "params": {1, 2}}, None),
            ({"target": "m:f", "params": "eA==", "encoding": "pickle"}, "encoding"),
            ({"target": "m:f", "retries": -1}, "retries"),
            ({"target": "m:f", "timeout": 0}, "timeout"),
            ({"target": "m:f", "colour": "red"}, "colour"),
        ]
        for body, field in cases:
            if field is None:
                with pytest.raises(Exception, match="params: not JSON"):
                    Tasks(c).add("m:f", {1, 2})
                continue
            with pytest.raises(ClientError) as err:
                c.add_task(body)
            assert err.value.status == 422 and field in err.value.message, body
        with pytest.raises(ClientError, match=r"package\.target"):
            c.submit({"prototype": "task", "package": {"target": "x"}})
        with pytest.raises(ClientError, match="exactly one work item"):
            c.submit({"prototype": "task", "package": {"target": "m:f"}, "agenda": ["a", "b"]})
        assert c.tasks() == [] and c.jobs() == []


def test_add_many_adds_tasks_of_their_own_in_one_call(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path, db_url: str
) -> None:
    farm = start_farm(db_url, workers=1, slots=2)
    with farm.client() as c, Tasks(c) as tasks:
        ids = tasks.add_many(f"{APP}:echo", [1, "two", {"three": 3}], retries=1)
        results = [tasks.result(i, timeout=60) for i in ids]
        jobs = [c.job(i, agenda=False) for i in ids]
        assert tasks.add_many(f"{APP}:echo", []) == []
        before = c.tasks(limit=100)
        with pytest.raises(ClientError) as err:  # one bad task refuses the call
            c.add_tasks([{"target": f"{APP}:echo"}, {"target": f"{APP}:echo", "retries": -1}])
        assert c.tasks(limit=100) == before
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert results == [{"got": 1}, {"got": "two"}, {"got": {"three": 3}}]
    assert [j["pgrp"] for j in jobs] == ids  # each its own pgrp, as if added alone
    assert err.value.status == 422 and err.value.field == "tasks[1].retries"


@pytest.mark.slow  # over 10 s: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_two_workers_run_each_task_once(start_farm: StartFarm, tasks_app: str, tmp_path: Path,
                                        db_url: str) -> None:  # fmt: skip
    farm = start_farm(db_url, workers=2, slots=2)
    out = tmp_path / "runs.txt"
    n = 400
    with farm.client() as c, Tasks(c) as tasks:
        ids = [tasks.add(f"{APP}:record", {"file": str(out), "n": i}) for i in range(n)]
        final = c.wait(ids, timeout=240)
        hosts = {t["host"] for t in c.tasks(limit=n)}
    assert set(final.values()) == {"complete"}
    counts = Counter(int(line.split()[0]) for line in out.read_text().splitlines())
    assert counts == {i: 1 for i in range(n)}
    assert hosts == set(farm.worker_names)


def test_timeout_kills_the_task_and_retries_apply(start_farm: StartFarm, tasks_app: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=1)
    with farm.client() as c, Tasks(c) as tasks:
        slow = tasks.add(f"{APP}:sleepy", 30, timeout=0.5, retries=1)
        info = tasks.wait(slow, timeout=60)
        assert tasks.result(tasks.add(f"{APP}:sleepy", 0), timeout=60) == 0
    assert info["status"] == "failed" and info["retry"] == 1
    assert "timed out after 0.5 s" in info["error"]


def test_amsoil_names_and_services(start_farm: StartFarm, tasks_app: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=1)
    from triggerfish import tasks

    for key, value in farm.client_env().items():  # the module-level API finds the farm
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRIGGERFISH_TOKEN", raising=False)
    worker = tasks.amsoil_worker()
    a = worker.add("greeter", "hello", "there")
    b = worker.add(APP, "echo", [1, 2, 3])
    assert tasks.result(a, timeout=60) == "hi there"
    assert tasks.result(b, timeout=60) == {"got": [1, 2, 3]}
    assert worker.outsideprocess is tasks.task
    assert [t["id"] for t in tasks.list(done=True)] == [b, a]


def test_client_lists_and_removes_tasks(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path
) -> None:
    farm = start_farm(f"sqlite:///{tmp_path / 'tf.db'}", workers=0)
    with farm.client() as c, Tasks(c) as tasks:
        tid = tasks.add(f"{APP}:echo", 1)
        assert [t["id"] for t in tasks.list()] == [tid]
        tasks.remove(tid)
        assert tasks.list() == []
        with pytest.raises(ClientError) as err:
            tasks.get(tid)
        assert err.value.status == 404


def test_a_task_adds_tasks_as_its_owner(start_farm: StartFarm, tasks_app: str) -> None:
    # one task process runs both spawners in turn: each sees its own job token
    farm = start_farm(None, workers=1, slots=1)
    with farm.client() as admin:
        tokens = {name: admin.add_user(name, ["submit"])["token"] for name in ("ann", "bob")}
    from triggerfish.client.client import Client

    children = {}
    for name, token in tokens.items():
        with Client(farm.url, token=token) as c, Tasks(c) as tasks:
            spawner = tasks.add(f"{APP}:spawn", name)
            children[name] = tasks.result(spawner, timeout=60)
            assert tasks.result(children[name], timeout=60) == {"got": name}
    with farm.client() as admin:
        owners = {name: admin.job(tid)["user"] for name, tid in children.items()}
    assert owners == {"ann": "ann", "bob": "bob"}


@pytest.mark.slow  # about 10 s per store: CI runs it (.ci/run); `python -m pytest -m slow` here
def test_tasks_held_ahead_run_once_across_a_supervisor_crash(
    start_farm: StartFarm, tasks_app: str, tmp_path: Path, db_url: str
) -> None:
    # A backlog of quick tasks: the worker is handed the next ones ahead of time (held for it,
    # chained). The supervisor is SIGKILLed while it holds some and started again: the worker
    # went on with what it held, and the restarted supervisor gave those to no one else.
    farm = start_farm(db_url, workers=1, slots=1)
    out = tmp_path / "runs.txt"
    n = 600

    def ran() -> int:
        return len(out.read_text().splitlines()) if out.exists() else 0

    with farm.client() as c, Tasks(c) as tasks:
        ids = tasks.add_many(
            f"{APP}:record", [{"file": str(out), "n": i, "sleep": 0.01} for i in range(n)]
        )  # a few ms each, so the backlog outlasts the polling below even on a loaded machine
        deadline = time.monotonic() + 60
        while True:  # until tasks are held ahead (assigned, not run yet): the case at hand
            done = ran()
            assigned = sum(1 for e in c.all_events() if e["name"] == "assigned")
            if done >= 50 and assigned > done + 1:
                break
            assert done < n - 100 and time.monotonic() < deadline, (
                f"no task was held ahead: {done} ran, {assigned} assigned"
            )
            time.sleep(0.02)
        farm.restart_supervisor()  # SIGKILL, then start again
    with farm.client() as c:
        final = c.wait(ids, timeout=120)
    assert set(final.values()) == {"complete"}
    counts = Counter(int(line.split()[0]) for line in out.read_text().splitlines())
    assert counts == {i: 1 for i in range(n)}


def test_a_result_too_large_for_the_supervisor_fails_its_task_and_the_worker_goes_on(
    start_farm: StartFarm, tasks_app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task whose result is over the supervisor's --max-body: its report is refused 413, so
    the worker sends it again without the result; the task fails saying why (it does not stay
    running), and the next task runs."""
    monkeypatch.setenv("TRIGGERFISH_MAX_BODY", "1M")
    farm = start_farm(None, workers=1)
    with farm.client() as c, Tasks(c) as tasks:
        big = tasks.add(f"{APP}:huge", 2 * 1024 * 1024)
        with pytest.raises(TaskFailed):
            tasks.result(big, timeout=60)
        after = tasks.add(f"{APP}:echo", "next")
        assert tasks.result(after, timeout=60) == {"got": "next"}
        info = tasks.get(big)
    assert "too large" in info["error"]
