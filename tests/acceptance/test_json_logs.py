"""``--log-format json`` (and ``TRIGGERFISH_LOG_FORMAT=json``) on real supervisor, worker and
``triggerfish run`` processes: every line they write to stderr is a JSON object with time,
level, logger and message, and the lines about work carry job, item, instance, host and
attempt as fields, the same attempt on both sides."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psutil

from triggerfish.cli.local import LocalFarm, child_env, free_port

HEAD = ("time", "level", "logger", "message")
WORK_KEYS = ("job", "item", "instance", "host", "attempt")
Line = dict[str, Any]


def parse(text: str, where: str) -> list[Line]:
    """Every line of ``text`` as a JSON object with the four keys (fails naming the line)."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        try:
            line = json.loads(raw)
        except ValueError:
            raise AssertionError(f"{where} line {n} is not JSON: {raw!r}") from None
        assert isinstance(line, dict), f"{where} line {n}: {raw!r}"
        assert all(isinstance(line.get(k), str) for k in HEAD), f"{where} line {n}: {raw!r}"
        when = datetime.fromisoformat(line["time"])
        assert when.utcoffset() == timedelta(0), f"{where} line {n}: not UTC"
        out.append(line)
    return out


def with_action(lines: list[Line], action: str) -> list[Line]:
    return [line for line in lines if line.get("action") == action]


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def test_supervisor_and_worker_log_json_with_the_fields_of_the_work(tmp_path: Path) -> None:
    farm = LocalFarm(workers=1, slots=2, data_dir=tmp_path / "farm", log_level="debug",
                     log_format="json", grace=5.0)  # fmt: skip
    name = farm.worker_names[0]
    with farm, farm.client() as c:
        [frames] = c.submit({"name": "frames", "package": {"cmdline": "true", "range": "1-3"}})
        assert c.wait(frames["id"], timeout=60) == {frames["id"]: "complete"}
        [long] = c.submit({"name": "long", "package": {"cmdline": "sleep 60", "range": "7"}})
        log = farm.log_path(name)
        assert log is not None
        begun = f'"action": "attempt_start", "job": {long["id"]},'
        wait_for(lambda: begun in log.read_text(), 30, "the worker started it")
        farm.kill_worker(0)  # the supervisor then loses its attempt, and says so
        assert farm.mark_down(name)
        wait_for(lambda: c.work(long["id"], "7")["status"] == "pending", 30, "lost")
    logs = {n: farm.log_path(n) for n in ("supervisor", name)}
    sup, work = (parse(p.read_text(), n) for n, p in logs.items() if p is not None)

    # the worker: each attempt's start names its work (debug level)
    started = with_action(work, "attempt_start")
    assert {(s["job"], s["item"]) for s in started} == {
        (frames["id"], "1"), (frames["id"], "2"), (frames["id"], "3"), (long["id"], "7")
    }  # fmt: skip
    for line in started:
        assert all(line[k] not in (None, "") for k in WORK_KEYS), line
        assert line["host"] == name and line["level"] == "DEBUG" and isinstance(line["pid"], int)
    # the supervisor: the lost attempt, with the same keys and the same attempt token
    [lost] = with_action(sup, "attempt.lost")
    [long_start] = [s for s in started if s["job"] == long["id"]]
    assert {k: lost[k] for k in WORK_KEYS} == {k: long_start[k] for k in WORK_KEYS}
    assert lost["logger"] == "triggerfish.engine.workers" and lost["level"] == "INFO"
    # uvicorn's own lines come through the same formatter
    assert any(line["logger"].startswith("uvicorn") for line in sup)
    assert with_action(sup, "supervisor.ready") and with_action(work, "worker_registered")


class Lines:
    """The lines a child writes to a pipe, read as they come (by a thread)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._reader.start()

    def _read(self, pipe: IO[bytes]) -> None:
        for raw in pipe:
            self._queue.put(raw.decode("utf-8", "replace"))

    def until(self, word: str, timeout: float = 60.0) -> None:
        """Read lines until one contains ``word``."""
        end = time.monotonic() + timeout
        while not any(word in line for line in self.seen):
            try:
                self.seen.append(self._queue.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {word!r} in:\n{''.join(self.seen)}") from None

    def rest(self) -> str:
        """All the lines, once the pipe is closed (every process writing to it ended)."""
        self._reader.join(timeout=30)
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


def _stop(proc: subprocess.Popen[bytes], lines: Lines) -> list[Line]:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    return parse(lines.rest(), "stderr")


def test_run_passes_the_variable_s_format_on_to_its_supervisor_and_workers(
    tmp_path: Path,
) -> None:
    """``TRIGGERFISH_LOG_FORMAT=json triggerfish run``: the supervisor's, the workers' and its
    own lines (a worker restarted) on its stderr, all JSON."""
    env = {**child_env(), "TRIGGERFISH_LOG_FORMAT": "json", "TRIGGERFISH_LOG_LEVEL": "info"}
    run = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "run", "--workers", "1",
         "--port", str(free_port()), "--data-dir", str(tmp_path / "farm")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert run.stdout is not None and run.stderr is not None
    out, err = Lines(run.stdout), Lines(run.stderr)
    try:
        out.until("listening on")  # (its farm started: its workers registered)
        [worker] = [p for p in psutil.Process(run.pid).children() if "worker" in p.cmdline()]
        worker.kill()
        err.until('"worker.restart"')
        lines = _stop(run, err)
    finally:
        if run.poll() is None:
            run.kill()
    loggers = {line["logger"] for line in lines}
    assert {"triggerfish.server.app", "triggerfish.worker.agent", "uvicorn.error"} <= loggers
    [restart] = with_action(lines, "worker.restart")
    assert restart["level"] == "WARNING" and restart["exit_code"] == -9
    assert restart["logger"] == "triggerfish.cli.run" and restart["host"] == worker_name(lines)


def worker_name(lines: list[Line]) -> str:
    [registered, *_] = with_action(lines, "worker_registered")
    return str(registered["host"])


def test_worker_reads_the_variable(tmp_path: Path) -> None:
    """A worker started with ``TRIGGERFISH_LOG_FORMAT=json`` (nothing listens where it looks
    for its supervisor: it says so, in JSON, until stopped)."""
    env = {**child_env(), "TRIGGERFISH_LOG_FORMAT": "json", "TRIGGERFISH_WORKER_TOKEN": "x"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "triggerfish", "worker", "--name", "w1",
         "--supervisor", f"http://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert worker.stderr is not None
    err = Lines(worker.stderr)
    try:
        err.until('"supervisor_unreachable"')
        lines = _stop(worker, err)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert with_action(lines, "supervisor_unreachable")[0]["level"] == "WARNING"
    assert with_action(lines, "worker_stopped")


def test_supervisor_reads_the_variable_and_says_why_it_cannot_start_in_json(
    tmp_path: Path,
) -> None:
    env = {**child_env(), "TRIGGERFISH_LOG_FORMAT": "json"}
    result = subprocess.run(
        [sys.executable, "-m", "triggerfish", "supervisor", "--port", "0",
         "--data-dir", str(tmp_path), "--db", "nosuchdb://x"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    port, error = parse(result.stderr, "stderr")
    assert port["action"] == "supervisor.port" and port["port"] > 0  # the one it picked
    assert error["level"] == "ERROR" and "nosuchdb" in error["message"]
    assert (error["action"], error["field"]) == ("exit", "db")


def test_text_stays_the_default(tmp_path: Path) -> None:
    env = {k: v for k, v in child_env().items() if k != "TRIGGERFISH_LOG_FORMAT"}
    result = subprocess.run(
        [sys.executable, "-m", "triggerfish", "supervisor", "--data-dir", str(tmp_path),
         "--db", "nosuchdb://x"],
        env={**env, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1
