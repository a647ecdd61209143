"""Task assignments through the worker's runner: real task processes, real pipes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from triggerfish.api.schemas import Assignment, Report
from triggerfish.tasks.host import marker
from triggerfish.worker.process import Stream
from triggerfish.worker.runner import Runner
from triggerfish.worker.taskpool import TaskHost

pytestmark = pytest.mark.skipif(os.name != "posix", reason="task processes need POSIX")

APP = """
import os, sys, time
from triggerfish.tasks import task, register_service

@task
def double(n):
    print("doubling", n)
    print("to stderr", file=sys.stderr)
    return n * 2

@task
def pid(_):
    return os.getpid()

@task
def leave(code):
    os._exit(code)

@task
def nap(seconds):
    time.sleep(seconds)
    return "woke"

def plain(_):
    return 1

@task
def noisy(n):
    # NUL bytes and pieces of a marker in the output, written in many small writes
    for i in range(n):
        os.write(2, b"\\x00" + b"ab" * i + b"\\x00 line %d\\n" % i)
    sys.stdout.write("\\x00" * 40 + "end")
    return {"n": n}

@task
def big(n):
    print("before the long answer")
    return "x" * n

class Counter:
    def __init__(self):
        self.n = 0

    @task
    def bump(self, _):
        self.n += 1
        return self.n

register_service("counter", Counter)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "unit_app.py").write_text(APP)
    return tmp_path


def task(target: str, params: Any = None, token: str = "t1", **pkg: Any) -> Assignment:
    package = {"target": target, "params": params, **pkg}
    return Assignment(token=token, job=1, subid=0, work="task", pgrp=1, name="t",
                      prototype="task", package=package)  # fmt: skip


def run_all(
    app_dir: Path, steps: Callable[[Runner], Any]
) -> tuple[Any, list[tuple[str, Stream, str]]]:
    out: list[tuple[str, Stream, str]] = []
    path = os.pathsep.join([str(app_dir), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "TRIGGERFISH_TASK_IMPORTS": "unit_app"}

    async def go() -> Any:
        runner = Runner(lambda tok, s, t: out.append((tok, s, t)), grace=0.5, task_env=env)
        try:
            return await steps(runner)
        finally:
            await runner.tasks.aclose()

    return asyncio.run(go()), out


def test_result_output_and_one_process_reused(app_dir: Path) -> None:
    async def steps(r: Runner) -> list[Report]:
        return [await r.run(task("unit_app:double", 21, token="a")),
                await r.run(task("unit_app:pid", token="b")),
                await r.run(task("unit_app:pid", token="c")),
                await r.run(task("counter:bump", token="d")),
                await r.run(task("counter:bump", token="e"))]  # fmt: skip

    (a, b, c, d, e), out = run_all(app_dir, steps)
    assert (a.status, a.result) == ("complete", {"value": 42})
    assert b.result == c.result  # the idle task process runs the next task
    assert (d.result, e.result) == ({"value": 1}, {"value": 2})  # one service per process
    text = "".join(t for tok, _, t in out if tok == "a")
    assert "doubling 21" in text and "to stderr" in text
    assert all(tok == "a" for tok, _, t in out if "doubling" in t)


def test_output_and_answers_share_one_pipe_safely(app_dir: Path) -> None:
    """The answer follows the output on the same pipe, after a random marker: stray NUL bytes
    in the output are output; an answer too long for one atomic write comes on stdout."""

    async def steps(r: Runner) -> list[Report]:
        return [await r.run(task("unit_app:noisy", 50, token="n")),
                await r.run(task("unit_app:big", 200_000, token="b")),
                await r.run(task("unit_app:double", 2, token="d"))]  # fmt: skip

    (noisy, big, after), out = run_all(app_dir, steps)
    assert noisy.result == {"value": {"n": 50}}
    text = "".join(t for tok, _, t in out if tok == "n")
    expected = "".join(f"\x00{'ab' * i}\x00 line {i}\n" for i in range(50)) + "\x00" * 40 + "end"
    assert text == expected
    assert big.status == "complete" and big.result == {"value": "x" * 200_000}
    assert "before the long answer" in "".join(t for tok, _, t in out if tok == "b")
    assert after.result == {"value": 4}
    assert "".join(t for tok, _, t in out if tok == "d") == "doubling 2\nto stderr\n"


def test_faults_fail_the_task_only(app_dir: Path) -> None:
    async def steps(r: Runner) -> list[Report]:
        first = await r.run(task("unit_app:pid", token="p1"))
        died = await r.run(task("unit_app:leave", 7, token="x"))
        after = await r.run(task("unit_app:pid", token="p2"))
        return [first, died, after,
                await r.run(task("unit_app:plain", token="u")),
                await r.run(task("nowhere:fn", token="m")),
                await r.run(task("unit_app:double", "AAA=", token="k",
                                 encoding="pickle"))]  # fmt: skip

    (first, died, after, plain, missing, bad), _ = run_all(app_dir, steps)
    assert died.status == "failed" and died.error == "the task process ended: exited with 7"
    assert after.status == "complete" and after.result != first.result  # a fresh process
    assert plain.error and "not marked with @triggerfish.tasks.task" in plain.error
    assert missing.error and "no module 'nowhere'" in missing.error
    assert bad.error and "the pickle does not load" in bad.error


def test_cancel_and_timeout_kill_the_task_process(app_dir: Path) -> None:
    async def steps(r: Runner) -> tuple[Report, Report, int]:
        timed = await r.run(task("unit_app:nap", 30, token="t", timeout=0.3))
        job = asyncio.create_task(r.run(task("unit_app:nap", 30, token="c")))
        while "c" not in r.tokens:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        busy_pid = r.tasks._busy["c"].proc.pid
        assert r.cancel("c", "cancelled by the supervisor")
        return timed, await job, busy_pid

    (timed, cancelled, busy_pid), _ = run_all(app_dir, steps)
    assert timed.status == "failed" and timed.error is not None
    assert timed.error.startswith("timed out after 0.3 s")
    assert cancelled.status == "failed" and cancelled.error is not None
    assert cancelled.error.startswith("cancelled by the supervisor")
    assert not psutil.pid_exists(busy_pid) or psutil.Process(busy_pid).status() == "zombie"


class _Proc:
    """Just what TaskHost reads of a process: its pid, stderr, returncode."""

    def __init__(self, stderr: asyncio.StreamReader) -> None:
        self.pid = os.getpid()
        self.stderr = stderr
        self.returncode: int | None = None


def test_a_marker_split_between_reads_is_found() -> None:
    """The output is read in pieces: a marker (or the answer after it) cut anywhere between
    two reads still ends the output there; what only looks like the start of one is output."""
    mark = marker("0123456789abcdef")
    stream = b"out\x00put\x00" + mark + b'{"ok": true, "value": 1}\n' + b"\x000123" + mark + b"\n"

    async def go(cut: int) -> tuple[list[str], list[bytes | None]]:
        reader = asyncio.StreamReader()
        texts: list[str] = []
        host = TaskHost(_Proc(reader), lambda _tok, _s, t: texts.append(t), mark)  # type: ignore[arg-type]
        host.token = "t"
        answers: list[bytes | None] = []
        for piece in (stream[:cut], stream[cut:]):
            fut = host._answer = asyncio.get_running_loop().create_future()
            reader.feed_data(piece)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if fut.done():
                answers.append(fut.result())
        reader.feed_eof()
        await host._reader
        return texts, answers

    for cut in range(1, len(stream)):
        texts, answers = asyncio.run(go(cut))
        assert "".join(texts) == "out\x00put\x00\x000123", cut
        assert b'{"ok": true, "value": 1}' in answers, cut
