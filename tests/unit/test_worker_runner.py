"""The runner: real /bin/sh processes, real process groups, real pipes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from triggerfish.api.schemas import Assignment, Report
from triggerfish.worker import process
from triggerfish.worker.command import Frames, build_command, frame_values, substitute
from triggerfish.worker.errors import CommandError
from triggerfish.worker.process import Stream
from triggerfish.worker.runner import Runner

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the runner needs a POSIX system")
T = TypeVar("T")


def assignment(cmd: str | None = None, **kw: Any) -> Assignment:
    fields: dict[str, Any] = {
        "token": "tok-1",
        "job": 12,
        "subid": 0,
        "work": None,
        "pgrp": 10,
        "name": "test",
        "prototype": "cmdline",
        "package": {} if cmd is None else {"cmdline": cmd},
    }
    fields.update(kw)
    return Assignment(**fields)


class Output:
    """An output sink that keeps what it gets, in order."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, Stream, str]] = []

    def __call__(self, token: str, stream: Stream, text: str) -> None:
        self.chunks.append((token, stream, text))

    def text(self, stream: Stream, token: str = "tok-1") -> str:
        return "".join(t for tok, s, t in self.chunks if s == stream and tok == token)


def run(a: Assignment, **runner_kw: Any) -> tuple[Report, Output]:
    out = Output()

    async def go() -> Report:
        return await Runner(out, **runner_kw).run(a)

    return asyncio.run(go()), out


def gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie nobody has reaped yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


async def until(check: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


# ---------------------------------------------------------------- substitution (pure)


def test_substitution_replaces_longest_names_first_in_one_pass() -> None:
    values = frame_values(Frames(number=5, start=5, end=9, step=2), padding=3)
    text = "r QB_FRAME_NUMBER QB_FRAME_START-QB_FRAME_END by QB_FRAME_STEP img.QB_FRAME_NUMBER.exr"
    assert substitute(text, values) == "r 005 005-009 by 2 img.005.exr"


def test_substitution_leaves_shell_variables_to_the_shell() -> None:
    values = {"QB_FRAME_START": "7"}
    assert substitute("$QB_FRAME_START ${QB_FRAME_START} QB_FRAME_START", values) == (
        "$QB_FRAME_START ${QB_FRAME_START} 7"
    )


def test_substitution_only_when_frames_are_known() -> None:
    cmd = build_command(assignment("echo QB_FRAME_NUMBER"), base_env={})
    assert cmd.argv == ["/bin/sh", "-c", "echo QB_FRAME_NUMBER"]
    assert "QB_FRAME_NUMBER" not in cmd.env


def test_negative_frames_and_padding() -> None:
    a = assignment(
        "f QB_FRAME_NUMBER", frame_start=-3, package={"cmdline": "f QB_FRAME_NUMBER", "padding": 4}
    )
    assert build_command(a, base_env={}).argv[-1] == "f -003"


@pytest.mark.parametrize("padding", [-1, "x", 1.5, True, 65])
def test_bad_padding_is_a_command_error(padding: object) -> None:
    a = assignment(frame_start=1, package={"cmdline": "true", "padding": padding})
    with pytest.raises(CommandError, match=r"package\.padding"):
        build_command(a, base_env={})


def test_environment_layers_and_private_variables() -> None:
    a = assignment(
        "true",
        work="3",
        frame_start=3,
        frame_end=3,
        frame_step=1,
        env={"A": "job", "QBJOBID": "overridden?"},
    )
    env = build_command(a, base_env={"A": "base", "B": "base", "TRIGGERFISH_TOKEN": "secret"}).env
    assert env["A"] == "job" and env["B"] == "base"
    assert "TRIGGERFISH_TOKEN" not in env
    assert env["QBJOBID"] == "12" and env["QBSUBID"] == "0" and env["QBPGRPID"] == "10"
    assert env["TRIGGERFISH_WORK"] == "3"
    assert (env["QB_FRAME_NUMBER"], env["QB_FRAME_END"], env["QB_FRAME_STEP"]) == ("3", "3", "1")


# ---------------------------------------------------------------- real processes


def test_substitution_and_environment_reach_the_command() -> None:
    # Bare names are replaced in the text (padded); $NAME is left to the shell, which reads
    # the unpadded value from the environment, so that arithmetic stays decimal.
    cmd = (
        'echo "$QBJOBID $QB_FRAME_START QB_FRAME_NUMBER QB_FRAME_END QB_FRAME_STEP"; '
        'echo "$TRIGGERFISH_WORK $QBSUBID $QBPGRPID $MY_VAR $(($QB_FRAME_NUMBER + 1))"'
    )
    a = assignment(
        prototype="cmdrange",
        work="8-9",
        subid=2,
        frame_start=8,
        frame_end=9,
        frame_step=1,
        env={"MY_VAR": "hello"},
        package={"cmdline": cmd, "padding": 4},
    )
    report, out = run(a)
    assert report.status == "complete", (report, out.text("stderr"))
    assert out.text("stdout") == "12 8 0008 0009 1\n8-9 2 10 hello 9\n"


@pytest.mark.parametrize(
    ("cmd", "status", "code", "error"),
    [
        ("exit 0", "complete", 0, None),
        ("exit 3", "failed", 3, "exited with 3"),
        ("no-such-command-triggerfish", "failed", 127, "command not found"),
        ("kill -9 $$", "failed", -9, "killed by signal 9"),
    ],
)
def test_exit_codes(cmd: str, status: str, code: int, error: str | None) -> None:
    report, _ = run(assignment(cmd))
    assert report.token == "tok-1"
    assert (report.status, report.exit_code) == (status, code)
    if error is None:
        assert report.error is None
    else:
        assert report.error is not None and error in report.error


@pytest.mark.parametrize("cwd", [None, "/"])  # posix_spawn (Linux) and Popen
def test_the_command_gets_default_signals_stdin_from_dev_null_and_a_session(
    cwd: str | None,
) -> None:
    # Python ignores SIGPIPE; a command must not inherit that (``yes | head`` would never end)
    report, _ = run(assignment("kill -PIPE $$; exit 0", cwd=cwd))
    assert (report.status, report.exit_code) == ("failed", -signal.SIGPIPE)
    # cat ends at once (stdin is empty); the shell's own pid, process group and session
    report, out = run(assignment("cat; cut -d' ' -f1,5,6 /proc/$$/stat", cwd=cwd))
    if sys.platform == "linux":
        assert report.status == "complete", out.text("stderr")
        pid, pgid, sid = out.text("stdout").split()
        assert pid == pgid == sid


def test_stdout_and_stderr_arrive_separately_and_in_order() -> None:
    cmd = "i=0; while [ $i -lt 3000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
    report, out = run(assignment(cmd))
    assert report.status == "complete"
    assert out.text("stdout") == "".join(f"out{i}\n" for i in range(3000))
    assert out.text("stderr") == "".join(f"err{i}\n" for i in range(3000))
    assert len(out.chunks) >= 2


def test_output_is_decoded_as_utf8_with_replacement_across_reads() -> None:
    # "é" split over two writes with a pause, then an invalid byte.
    report, out = run(assignment(r"printf '\303'; sleep 0.1; printf '\251 \377\n'"))
    assert report.status == "complete"
    assert out.text("stdout") == "é \ufffd\n"


def test_output_arrives_while_the_command_runs() -> None:
    # Short commands have their output read when they end; a command that runs on has its
    # pipes watched and streamed (what `triggerfish logs` shows of a running item).
    out = Output()

    async def go() -> tuple[str, str, Report]:
        runner = Runner(out, grace=1.0)
        task = asyncio.create_task(
            runner.run(assignment("echo first; echo oops >&2; sleep 0.5; echo second; sleep 60"))
        )
        first = await until(lambda: out.text("stdout"))
        err = await until(lambda: out.text("stderr"))
        assert runner.pid("tok-1") is not None  # still running
        await until(lambda: "second" in out.text("stdout"))
        runner.cancel("tok-1")
        return first, err, await asyncio.wait_for(task, 5.0)

    first, err, report = asyncio.run(go())
    assert (first, err) == ("first\n", "oops\n")
    assert out.text("stdout") == "first\nsecond\n"
    assert report.status == "failed"


@pytest.mark.parametrize("cwd", [None, "/"])  # posix_spawn (Linux) and Popen
def test_more_output_than_a_pipe_holds_at_once_is_all_read(cwd: str | None) -> None:
    # 1 MB written at once, before the loop watches the pipes: the command waits for the
    # reader, which comes; nothing is lost and nothing hangs.
    cmd = "head -c 1000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero | tr '\\0' y >&2"
    report, out = run(assignment(cmd, cwd=cwd))
    assert report.status == "complete", out.text("stderr")[:200]
    assert out.text("stdout") == "x" * 1_000_000
    assert out.text("stderr") == "y" * 300_000


def test_output_of_kept_leftovers_is_read_until_they_close_the_pipes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The shell ends at once; its background child writes later, to the same pipe, and the
    # runner notices when it closes it (not only when the drain timeout has passed).
    cmd = "(sleep 0.3; echo late) & echo early"
    with caplog.at_level(logging.WARNING, logger="triggerfish.worker.runner"):
        report, out = run(assignment(cmd), kill_leftovers=False, drain_timeout=10.0)
    assert report.status == "complete"
    assert out.text("stdout") == "early\nlate\n"
    assert not [r for r in caplog.records if "pipes still open" in r.getMessage()]


@pytest.mark.parametrize("cwd", [None, "/"])
def test_without_pidfd_the_exit_is_seen_by_a_waiting_thread(
    cwd: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What other systems than Linux do (and Linux before 5.3).
    monkeypatch.setattr(process, "PIDFD", False)
    report, out = run(assignment("echo out; echo err >&2; exit 5", cwd=cwd))
    assert (report.status, report.exit_code) == ("failed", 5)
    assert (out.text("stdout"), out.text("stderr")) == ("out\n", "err\n")

    async def cancelled() -> Report:
        runner = Runner(Output(), grace=5.0)
        task = asyncio.create_task(runner.run(assignment("sleep 60", cwd=cwd)))
        await until(lambda: runner.pid("tok-1"))
        runner.cancel("tok-1")
        return await asyncio.wait_for(task, 5.0)

    report = asyncio.run(cancelled())
    assert report.exit_code == -signal.SIGTERM


def test_bad_working_directory_is_a_failed_report(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    report, _ = run(assignment("true", cwd=str(missing)))
    assert report.status == "failed"
    assert report.error is not None and str(missing) in report.error
    assert "working directory" in report.error


def test_working_directory_is_used(tmp_path: Path) -> None:
    report, out = run(assignment("pwd", cwd=str(tmp_path)))
    assert report.status == "complete"
    assert Path(out.text("stdout").strip()).resolve() == tmp_path.resolve()


def test_missing_command_line_is_a_failed_report() -> None:
    report, _ = run(assignment())
    assert report.status == "failed" and report.error is not None
    assert "package.cmdline" in report.error


def test_cancel_kills_the_whole_process_group() -> None:
    out = Output()

    async def go() -> tuple[Report, list[int]]:
        runner = Runner(out, grace=5.0)
        task = asyncio.create_task(runner.run(assignment("sleep 100 & echo $!; sleep 100")))
        child = int(await until(lambda: out.text("stdout").strip()))
        shell = runner.pid("tok-1")
        assert shell is not None
        assert runner.cancel("tok-1") is True
        assert runner.cancel("unknown") is False
        return await asyncio.wait_for(task, 5.0), [shell, child]

    started = time.monotonic()
    report, pids = asyncio.run(go())
    assert time.monotonic() - started < 4.0  # SIGTERM was enough: no grace period spent
    assert report.status == "failed"
    assert report.error is not None and "cancelled" in report.error
    assert "signal 15" in report.error
    for pid in pids:
        assert wait_gone(pid), f"process {pid} survived the cancel"


def test_cancel_escalates_to_sigkill_after_the_grace_period() -> None:
    out = Output()

    async def go() -> Report:
        runner = Runner(out, grace=0.5)
        task = asyncio.create_task(runner.run(assignment("trap '' TERM; echo ready; sleep 100")))
        await until(lambda: out.text("stdout"))
        runner.cancel("tok-1")
        return await asyncio.wait_for(task, 5.0)

    started = time.monotonic()
    report = asyncio.run(go())
    assert 0.4 < time.monotonic() - started < 4.0
    assert report.exit_code == -signal.SIGKILL
    assert report.error is not None and "killed by signal 9" in report.error


def test_leftover_background_processes_die_with_the_attempt() -> None:
    report, out = run(assignment("sleep 100 & echo $!"))
    assert report.status == "complete"
    assert wait_gone(int(out.text("stdout")))


def test_leftovers_may_be_kept() -> None:
    report, out = run(assignment("sleep 100 >/dev/null 2>&1 & echo $!"), kill_leftovers=False)
    pid = int(out.text("stdout"))
    try:
        assert report.status == "complete"
        assert not gone(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_many_attempts_in_parallel() -> None:
    out = Output()

    async def go() -> list[Report]:
        runner = Runner(out)
        jobs: list[Awaitable[Report]] = [
            runner.run(assignment(f"echo {i}", token=f"t{i}")) for i in range(40)
        ]
        return await asyncio.gather(*jobs)

    reports = asyncio.run(go())
    assert [r.status for r in reports] == ["complete"] * 40
    assert [out.text("stdout", f"t{i}") for i in range(40)] == [f"{i}\n" for i in range(40)]


def test_the_runner_leaves_no_file_descriptors_behind() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("counts /proc/self/fd")

    async def go() -> None:
        runner = Runner()
        for i in range(20):
            await runner.run(assignment("echo x; echo y >&2", token=f"t{i}"))

    asyncio.run(go())  # warm up the loop machinery
    before = len(os.listdir("/proc/self/fd"))
    asyncio.run(go())
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_child_process_that_cannot_be_watched_is_killed_and_reaped() -> None:
    # Outside a running event loop the process object cannot be made: the command, already
    # started, must not be left running (nor as a zombie).
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    with pytest.raises(RuntimeError):
        process.ChildProcess.spawn(
            ["/bin/sh", "-c", "sleep 60"], cwd=None, env=dict(os.environ), on_output=print
        )
    assert {p.pid for p in me.children()} == before


def test_a_suspend_before_the_process_starts_stops_it_when_it_starts(tmp_path: Path) -> None:
    """The supervisor suspended the attempt while it had no process yet (queued ahead, or
    between flight checks): its process is stopped at once when it starts, until resumed."""
    marker = tmp_path / "ran"

    async def go() -> tuple[Report, str]:
        runner = Runner(Output())
        assert runner.suspend("tok-1", True) is False  # (no process yet)
        task = asyncio.create_task(runner.run(assignment(f"sleep 0.2; touch {marker}")))
        pid = await until(lambda: runner.pid("tok-1"))
        state = await until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED and "T")
        await asyncio.sleep(0.5)
        assert not marker.exists()  # stopped: it did not go on
        assert runner.suspend("tok-1", False) is True
        return await task, state

    report, state = asyncio.run(go())
    assert state == "T"
    assert report.status == "complete" and marker.exists()
