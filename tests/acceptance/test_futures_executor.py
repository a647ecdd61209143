"""triggerfish.futures.Executor end to end: a real supervisor and workers, the calls run by the
``pyfutures`` job type in the workers' job type processes, results read back over HTTP."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import futures_app
import httpx
import pytest
from farms import StartFarm

from triggerfish.cli.local import LocalFarm
from triggerfish.futures import Executor, FarmFuture, PickleRefused

HERE = Path(__file__).parent
FutureFarm = Callable[..., LocalFarm]


@pytest.fixture
def futures_farm(start_farm: StartFarm, monkeypatch: pytest.MonkeyPatch) -> FutureFarm:
    """``futures_farm(workers, slots, allow_pickle, **LocalFarm options)``: a farm whose
    workers (offering the built-in ``pyfutures`` job type) import ``futures_app``; the client
    environment points at it."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)

    def start(workers: int = 2, slots: int = 1, allow_pickle: bool = False,
              **options: Any) -> LocalFarm:  # fmt: skip
        farm = start_farm(workers=workers, slots=slots, allow_pickle=allow_pickle, **options)
        for name, value in farm.client_env().items():
            monkeypatch.setenv(name, value)
        return farm

    return start


def running(fut: concurrent.futures.Future[object]) -> None:
    """Wait until the reader has seen ``fut``'s item start (bounded: a stuck farm fails)."""
    deadline = time.monotonic() + 120
    while not fut.running() and not fut.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fut.running(), fut


def test_map_submit_and_an_exception_that_comes_back_as_itself(futures_farm: FutureFarm) -> None:
    futures_farm(workers=2)
    with Executor() as ex:
        assert list(ex.map(pow, [2, 3, 4], [5, 2, 1])) == [32, 9, 4]
        assert list(ex.map(pow, range(10), [2] * 10, chunksize=3)) == [i * i for i in range(10)]
        assert ex.submit(int, "ff", base=16).result(timeout=120) == 255
        assert ex.submit(pow, 2, 10).result(timeout=120) == 1024
        many = [ex.submit(pow, i, 2) for i in range(12)]  # (jobs added while others run)
        mapped = ex.map(pow, range(30), [3] * 30)
        done = set(concurrent.futures.as_completed(many, timeout=120))
        assert done == set(many) and [f.result() for f in many] == [i * i for i in range(12)]
        assert list(mapped) == [i**3 for i in range(30)]
        failing = ex.submit(futures_app.fail, "x")
        with pytest.raises(ValueError) as raised:
            failing.result(timeout=120)
        results = ex.map(futures_app.fail, ["a", "b"])
        with pytest.raises(ValueError) as first:
            next(results)
    assert type(raised.value) is ValueError and raised.value.args == ("x",)
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "Raised on the farm" in notes and "raise ValueError(message)" in notes
    assert first.value.args == ("a",)
    assert isinstance(failing, FarmFuture) and failing.done()


def test_a_lambda_is_refused_without_allow_pickle(futures_farm: FutureFarm) -> None:
    farm = futures_farm(workers=1)
    with Executor() as ex:
        assert ex.allow_pickle is False
        with pytest.raises(PickleRefused, match="--allow-pickle"):
            ex.submit(lambda x: x + 1, 1)
        with pytest.raises(PickleRefused, match="--allow-pickle"):
            ex.submit(pow, (1, 2), 2)  # a tuple would come back a list: pickle or nothing
    job = {"name": "p", "prototype": "pyfutures", "package": {"fn": "builtins:pow"},
           "agenda": [{"name": "0", "package": {"calls_pickle": "gAR9lC4="}}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {farm.token}"}
    answer = httpx.post(f"{farm.url}/api/v1/jobs", json=[job], headers=headers, timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "jobs[0].agenda[0].package.calls_pickle"


def test_a_lambda_runs_with_allow_pickle(futures_farm: FutureFarm) -> None:
    futures_farm(workers=1, allow_pickle=True)
    offset = 10
    with Executor() as ex:
        assert ex.allow_pickle is True
        assert ex.submit(lambda x: x + offset, 1).result(timeout=120) == 11
        assert list(ex.map(lambda p: p[::-1], [(1, 2), (3, 4)])) == [(2, 1), (4, 3)]


def test_cancel_of_a_call_not_run_yet_and_shutdown_waits(futures_farm: FutureFarm,
                                                          tmp_path: Path) -> None:  # fmt: skip
    farm = futures_farm(workers=1, slots=1)
    go, never = tmp_path / "go", tmp_path / "never"
    ex = Executor()
    holder = ex.submit(futures_app.wait_for, str(go))  # holds the only slot until `go` exists
    running(holder)
    queued = ex.submit(futures_app.touch, str(never))
    assert not queued.running()
    assert queued.cancel() is True
    assert queued.cancelled() and queued.done()
    assert queued.cancel() is True  # (again: still cancelled)
    with pytest.raises(concurrent.futures.CancelledError):
        queued.result(timeout=0)
    after = [ex.submit(futures_app.touch, str(tmp_path / f"t{i}")) for i in range(3)]
    go.touch()
    ex.shutdown(wait=True)
    assert holder.result(timeout=0) == str(go)
    assert [f.result(timeout=0) for f in after] == [str(tmp_path / f"t{i}") for i in range(3)]
    assert holder.cancel() is False  # it ended
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(pow, 2, 2)
    with farm.client() as c:
        assert c.work(queued.job, queued.name)["status"] == "killed"
    assert not never.exists()  # (its item was killed before any instance took it)


def test_shutdown_cancel_futures_kills_what_has_not_started(futures_farm: FutureFarm,
                                                           tmp_path: Path) -> None:  # fmt: skip
    futures_farm(workers=1, slots=1)
    go = tmp_path / "go"
    ex = Executor()
    holder = ex.submit(futures_app.wait_for, str(go))
    running(holder)
    queued = [ex.submit(futures_app.touch, str(tmp_path / f"q{i}")) for i in range(4)]
    mapped = ex.map(futures_app.touch, [str(tmp_path / f"m{i}") for i in range(5)])
    ex.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    with pytest.raises(concurrent.futures.CancelledError):
        next(mapped)
    go.touch()
    assert holder.result(timeout=120) == str(go)
    assert not holder.cancelled()
    assert not list(tmp_path.glob("[qm]*"))


def test_map_timeout_as_the_standard_librarys(futures_farm: FutureFarm, tmp_path: Path) -> None:
    futures_farm(workers=1, slots=1)
    never = str(tmp_path / "never")
    with Executor() as ex:
        results = ex.map(futures_app.wait_for, [never, never], timeout=0.5)
        with pytest.raises(TimeoutError):
            next(results)
        (tmp_path / "never").touch()  # (the running call ends; the other was cancelled)


@pytest.mark.slow  # (a few s per store: the slow run, which CI runs)
def test_a_job_killed_from_elsewhere_cancels_its_futures(futures_farm: FutureFarm,
                                                         tmp_path: Path) -> None:  # fmt: skip
    farm = futures_farm(workers=1, slots=1)
    go = tmp_path / "go"
    with Executor() as ex:
        holder = ex.submit(futures_app.wait_for, str(go))
        running(holder)
        results = ex.map(futures_app.touch, [str(tmp_path / f"k{i}") for i in range(3)])
        with farm.client() as c:
            [other] = [j for j in c.jobs(status="pending") if j["id"] != holder.job]
            c.kill(other["id"])  # (its items are killed without events of their own)
        with pytest.raises(concurrent.futures.CancelledError):
            next(results)
        go.touch()
    assert not list(tmp_path.glob("k*"))


def test_the_jobs_take_the_executors_fields(futures_farm: FutureFarm) -> None:
    farm = futures_farm(workers=2, properties=[{}, {"gpu": "a100"}])
    options: dict[str, Any] = {"name": "denoise", "priority": 10, "requirements": "host.gpu=a100",
               "env": {"TF_FUTURES_TEST": "yes"}, "cpus": 2}  # fmt: skip
    with Executor(**options) as ex:
        futures = [ex.submit(futures_app.getenv, "TF_FUTURES_TEST") for _ in range(3)]
        assert [f.result(timeout=120) for f in futures] == ["yes"] * 3
        mapped = ex.map(futures_app.getenv, ["TF_FUTURES_TEST"] * 4)
        assert list(mapped) == ["yes"] * 4
    with farm.client() as c:
        jobs = [c.job(f.job) for f in futures]
        items = [c.work(f.job, f.name) for f in futures]
        cpus = {j["todo"]: j["cpus"] for j in c.jobs(name="denoise")}
    assert {j["name"] for j in jobs} == {"denoise"} and {j["priority"] for j in jobs} == {10}
    assert {i["host"] for i in items} == {farm.worker_names[1]}  # the one with the GPU
    assert {j["prototype"] for j in jobs} == {"pyfutures"}
    assert cpus == {1: 1, 4: 2}  # (a submit's job has one instance; the map's, cpus)
