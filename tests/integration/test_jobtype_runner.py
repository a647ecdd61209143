"""Job types on the worker's runner: real job type processes talking to the worker through
``triggerfish.qb``'s back-end functions over the worker's channel (no supervisor: the runner is
handed assignments as the agent hands them, and told what the supervisor answered)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

import triggerfish.qb as qb
from triggerfish.api.schemas import Assignment, Flights, Report, ReportResponse
from triggerfish.worker import jobproc
from triggerfish.worker.jobchannel import ENV_SECRET, ENV_SOCKET
from triggerfish.worker.jobproc import HELD_MAX
from triggerfish.worker.jobtypes import discover, from_target
from triggerfish.worker.process import Stream
from triggerfish.worker.runner import Runner

pytestmark = pytest.mark.skipif(os.name != "posix", reason="job types need a POSIX system")
T = TypeVar("T")

# The job type of these tests: each item's action comes from the job's package ("actions":
# {item name: action}); "square" (the default) reports base + n² and the process's pid.
EXECUTE = """\
import os, sys, time
import triggerfish.qb as qb

job = qb.jobobj()
pkg = job["package"]

def trace(*words):
    with open(pkg["trace"], "a") as f:
        f.write(" ".join(str(w) for w in words) + "\\n")

trace("start", os.getpid())
print("ready")
while True:
    work = qb.requestwork()
    if work["status"] != "running":
        trace("end", work["status"])
        job["status"] = work["status"]
        qb.reportjob(job)  # (Qube's back ends report the job dict)
        break
    name = work["name"]
    if name == "":  # a job without agenda: the instance is the work
        qb.reportjob(pkg["whole"])
        continue
    action = pkg.get("actions", {}).get(name, "square")
    print("item", name, "workid", qb.workid())
    sys.stderr.write("err " + name + "\\n")
    if action == "crash":
        qb.updateresultpackage({"partial": name})
        os._exit(3)
    if action == "hang":
        trace("hang", os.getpid())
        time.sleep(600)
    if action == "exit0":
        sys.exit(0)
    if action == "progress":  # Qube's mid-item update of the result package
        qb.updateresultpackage({"stage": "one", "progress": 10})
        work["resultpackage"] = {"progress": 50}
        qb.reportwork(work)
        work["resultpackage"] = {"stage": "two"}
        qb.reportwork(work)
    work["status"] = "failed" if action == "fail" else "complete"
    work["resultpackage"] = {
        "square": int(pkg["base"]) + int(name) ** 2, "pid": os.getpid(),
        "flavour": pkg["flavour"], "item_package": work["package"], "job": job["id"],
    }
    qb.reportwork(work)
    print("reported", name)
"""


class Output:
    def __init__(self) -> None:
        self.chunks: list[tuple[str, Stream, str]] = []

    def __call__(self, token: str, stream: Stream, text: str) -> None:
        self.chunks.append((token, stream, text))

    def text(self, token: str, stream: Stream = "stdout") -> str:
        return "".join(t for tok, s, t in self.chunks if tok == token and s == stream)


class Farmhand:
    """A runner with the ``square`` job type, and what its processes traced."""

    def __init__(self, tmp: Path, **package: Any) -> None:
        types = tmp / "types"
        (types / "square").mkdir(parents=True)
        (types / "square" / "execute.py").write_text(EXECUTE)
        (types / "square" / "job.conf").write_text("[package]\nflavour = mint\nbase = 0\n")
        self.trace = tmp / "trace.txt"
        self.package = {"base": 100, "trace": str(self.trace), **package}
        self.out = Output()
        self.runner = Runner(self.out, jobtypes=discover([types], installed=False), host="h1")

    def item(self, token: str, work: str | None, subid: int = 0, **kw: Any) -> Assignment:
        return Assignment(token=token, job=7, subid=subid, work=work, pgrp=7, name="squares",
                          prototype="square", package=self.package, **kw)  # fmt: skip

    def traced(self) -> list[str]:
        return self.trace.read_text().splitlines() if self.trace.exists() else []

    async def until(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30.0
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)


def scenario(tmp: Path, body: Callable[[Farmhand], Awaitable[T]], **package: Any) -> T:
    hand = Farmhand(tmp, **package)

    async def go() -> T:
        try:
            return await body(hand)
        finally:
            await hand.runner.aclose()

    return asyncio.run(go())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_one_process_runs_the_items_of_an_instance(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> list[Report]:
        return [await h.runner.run(h.item(f"t{n}", str(n), work_package={"n": n}))
                for n in (1, 2, 3)]  # fmt: skip

    reports = scenario(tmp_path, body)
    assert [r.status for r in reports] == ["complete"] * 3
    assert [r.result["square"] for r in reports] == [101, 104, 109]
    assert [r.result["item_package"] for r in reports] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert {r.result["flavour"] for r in reports} == {"mint"}  # job.conf's default
    assert {r.result["job"] for r in reports} == {7}
    assert len({r.result["pid"] for r in reports}) == 1


def test_each_item_logs_what_the_process_printed_for_it(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> Output:
        for n in (1, 2):
            await h.runner.run(h.item(f"t{n}", str(n)))
        return h.out

    out = scenario(tmp_path, body)
    assert out.text("t1") == "ready\nitem 1 workid 1\n"  # (what it printed before: the first)
    assert out.text("t2") == "reported 1\nitem 2 workid 2\n"  # (between items: the next)
    assert out.text("t2", "stderr") == "err 2\n"


def test_a_failed_item_fails_and_the_process_goes_on(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> list[Report]:
        return [await h.runner.run(h.item(f"t{n}", str(n))) for n in (1, 2, 3)]

    reports = scenario(tmp_path, body, actions={"2": "fail"})
    assert [r.status for r in reports] == ["complete", "failed", "complete"]
    assert reports[1].error == "the job type reported the item failed"
    assert reports[1].result["square"] == 104
    assert len({r.result["pid"] for r in reports}) == 1


def test_running_reports_and_updateresultpackage_add_to_the_result(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> Report:
        return await h.runner.run(h.item("t1", "3"))

    report = scenario(tmp_path, body, actions={"3": "progress"})
    assert report.status == "complete"
    assert report.result["stage"] == "two" and report.result["progress"] == 50
    assert report.result["square"] == 109


@pytest.mark.parametrize(("said", "status"), [("complete", "complete"), ("killed", "failed")])
def test_an_instance_without_agenda_ends_with_reportjob(
    tmp_path: Path, said: str, status: str
) -> None:
    async def body(h: Farmhand) -> Report:
        return await h.runner.run(h.item("t1", None))

    report = scenario(tmp_path, body, whole=said)
    assert report.status == status
    if status == "failed":
        assert report.error == "the job type reported the job killed"


def test_a_crash_fails_the_open_item_and_a_new_process_takes_the_next(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> tuple[list[Report], list[str]]:
        reports = [await h.runner.run(h.item(f"t{n}", str(n))) for n in (1, 2, 3, 4)]
        return reports, h.traced()

    reports, traced = scenario(tmp_path, body, actions={"2": "crash", "3": "exit0"})
    assert [r.status for r in reports] == ["complete", "failed", "failed", "complete"]
    assert reports[1].exit_code == 3
    assert reports[1].error == "the job type's process ended before reporting the item: " \
        "exited with 3"  # fmt: skip
    assert reports[1].result == {"partial": "2"}  # what updateresultpackage sent
    assert reports[2].error is not None and "exited with 0" in reports[2].error
    assert [line.split()[0] for line in traced] == ["start", "start", "start"]
    assert reports[0].result["pid"] != reports[3].result["pid"]


def test_kill_stops_the_process_group_and_fails_the_item(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> tuple[Report, int, Report]:
        running = asyncio.create_task(h.runner.run(h.item("t1", "1")))
        await h.until("the item to hang", lambda: any("hang" in t for t in h.traced()))
        pid = int(next(t for t in h.traced() if t.startswith("hang")).split()[1])
        assert h.runner.cancel("t1")
        report = await running
        await h.until("the process to go", lambda: gone(pid))
        after = await h.runner.run(h.item("t2", "2"))
        return report, pid, after

    report, pid, after = scenario(tmp_path, body, actions={"1": "hang"})
    assert report.status == "failed"
    assert report.error is not None and report.error.startswith("cancelled by the supervisor")
    assert gone(pid)
    assert after.status == "complete" and after.result["pid"] != pid


def test_an_item_handed_while_the_process_dies_gets_a_new_process(tmp_path: Path) -> None:
    """(The supervisor may give a killed item's slot its next item in the same answer.)"""

    async def body(h: Farmhand) -> tuple[Report, Report, int]:
        running = asyncio.create_task(h.runner.run(h.item("t1", "1")))
        await h.until("the item to hang", lambda: any("hang" in t for t in h.traced()))
        pid = int(next(t for t in h.traced() if t.startswith("hang")).split()[1])
        assert h.runner.cancel("t1")
        after = await h.runner.run(h.item("t2", "2"))
        return await running, after, pid

    killed, after, pid = scenario(tmp_path, body, actions={"1": "hang"})
    assert killed.token == "t1" and killed.status == "failed"
    assert after.token == "t2" and after.status == "complete"
    assert after.result["pid"] != pid


def test_requestwork_right_after_reportwork_waits_for_the_next_item(tmp_path: Path) -> None:
    """The process's next request may come before the runner has taken the report: it waits
    for the next item (here the worker is sent what the hanging process would have sent)."""

    async def body(h: Farmhand) -> tuple[Report, dict[str, Any]]:
        running = asyncio.create_task(h.runner.run(h.item("t1", "1")))
        await h.until("the item to hang", lambda: any("hang" in t for t in h.traced()))
        proc = h.runner.jobprocs.get(h.item("t1", "1"))
        assert proc is not None
        done = {"name": "1", "status": "complete", "resultpackage": {"x": 1}}
        await proc.handle("reportwork", done)
        asking = asyncio.create_task(proc.handle("requestwork", {}))
        report = await running
        second = asyncio.create_task(h.runner.run(h.item("t2", "2")))
        work = await asking
        h.runner.cancel("t2")
        await second
        return report, work

    report, work = scenario(tmp_path, body, actions={"1": "hang"})
    assert report.status == "complete" and report.result == {"x": 1}
    assert work["name"] == "2" and work["status"] == "running"


def test_flight_checks_run_around_the_items_of_a_job_type(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    checks = Flights(
        preflights=f"echo pre >> {trace}",
        agenda_postflights=f'echo "post $TRIGGERFISH_WORK $TRIGGERFISH_FLIGHT" >> {trace}',
        postflights=f"echo landed >> {trace}",
    )

    async def body(h: Farmhand) -> list[Report]:
        reports = [await h.runner.run(h.item(f"t{n}", str(n), flights=checks)) for n in (1, 2)]
        landing = h.item("t3", "2", flights=checks, flight="postflight")
        reports.append(await h.runner.run(landing))
        return reports

    reports = scenario(tmp_path, body)
    assert [r.status for r in reports] == ["complete"] * 3
    assert [line.split()[0] for line in trace.read_text().splitlines()][:5] == [
        "pre", "start", "post", "post", "landed",
    ]  # fmt: skip
    assert "post 2 agenda_postflight" in trace.read_text()


def test_a_failed_preflight_leaves_the_job_type_unstarted(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> Report:
        return await h.runner.run(h.item("t1", "1", flights=Flights(preflights="exit 2")))

    report = scenario(tmp_path, body)
    assert report.status == "failed" and report.preflight is not None
    assert not (tmp_path / "trace.txt").exists()  # (the process never started)


def test_suspend_and_resume_stop_and_continue_the_process(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> str:
        running = asyncio.create_task(h.runner.run(h.item("t1", "1")))
        await h.until("the item to hang", lambda: any("hang" in t for t in h.traced()))
        pid = int(next(t for t in h.traced() if t.startswith("hang")).split()[1])
        assert h.runner.suspend("t1", True)
        stopped = psutil.STATUS_STOPPED
        await h.until("the stop", lambda: psutil.Process(pid).status() == stopped)
        assert h.runner.suspend("t1", False)
        await h.until("the resume", lambda: psutil.Process(pid).status() != stopped)
        h.runner.cancel("t1")
        return (await running).status

    assert scenario(tmp_path, body, actions={"1": "hang"}) == "failed"


@pytest.mark.parametrize("why", ["complete", "blocked", "pending"])
def test_no_next_item_ends_the_process_with_the_reason(tmp_path: Path, why: str) -> None:
    async def body(h: Farmhand) -> list[str]:
        report = await h.runner.run(h.item("t1", "1"))
        ended = {} if why == "complete" else {"t1": why}
        h.runner.reported([report], ReportResponse(accepted=["t1"], ended=ended))
        await h.until("the process to end", lambda: not h.runner.jobprocs.live)
        return h.traced()

    traced = scenario(tmp_path, body)
    assert traced[-1] == f"end {why}"


def test_a_next_item_keeps_the_process(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> tuple[Report, Report, bool]:
        first = await h.runner.run(h.item("t1", "1"))
        second = h.item("t2", "2")  # the supervisor's answer hands the instance its next item
        h.runner.reported([first], ReportResponse(accepted=["t1"], assignments=[second]))
        other = h.item("t3", "3", subid=1)  # another instance of the job: its own process
        h.runner.reported([first], ReportResponse(accepted=["t1"], assignments=[other]))
        live = h.runner.jobprocs.live
        return first, await h.runner.run(second), live

    first, second, live = scenario(tmp_path, body)
    assert live
    assert second.status == "complete" and second.result["pid"] == first.result["pid"]


def test_a_process_exits_when_the_worker_closes(tmp_path: Path) -> None:
    async def body(h: Farmhand) -> int:
        report = await h.runner.run(h.item("t1", "1"))
        await h.runner.aclose()
        return int(report.result["pid"])

    pid = scenario(tmp_path, body)
    assert gone(pid)
    assert (tmp_path / "trace.txt").read_text().splitlines()[-1] == "end pending"


ENTRY_MODULE = """\
import triggerfish.qb as qb


def main():
    while True:
        work = qb.requestwork()
        if work["status"] != "running":
            qb.reportjob(work["status"])
            return
        work["status"] = "complete"
        work["resultpackage"] = {"by": __name__, "name": work["name"]}
        qb.reportwork(work)


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(
    ("target", "by"), [("tf_jt_demo:main", "tf_jt_demo"), ("tf_jt_demo", "__main__")]
)
def test_job_types_of_entry_points_run_a_function_or_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, by: str
) -> None:
    (tmp_path / "tf_jt_demo.py").write_text(ENTRY_MODULE)
    path = [str(tmp_path), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    jt = from_target("demo", target)

    async def go() -> Report:
        runner = Runner(jobtypes={"demo": jt})
        try:
            a = Assignment(token="t1", job=1, subid=0, work="7", pgrp=1, name="demo",
                           prototype="demo", package={})  # fmt: skip
            return await runner.run(a)
        finally:
            await runner.aclose()

    report = asyncio.run(go())
    assert report.status == "complete"
    assert report.result == {"by": by, "name": "7"}


def test_the_back_end_outside_a_job_type_raises_no_job_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_SOCKET, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    for call in (qb.jobobj, qb.requestwork, lambda: qb.reportjob("complete")):
        with pytest.raises(qb.NoJobContext, match="job type"):
            call()
    with pytest.raises(qb.ArgumentError, match="status"):
        qb.reportwork({"name": "1", "status": "done"})


def test_a_process_with_another_secret_is_refused(tmp_path: Path) -> None:
    code = "import triggerfish.qb as qb\ntry:\n    qb.jobobj()\nexcept qb.WorkerRefused as e:\n" \
        "    print('refused:', e)\n"  # fmt: skip

    async def body(h: Farmhand) -> str:
        await h.runner.run(h.item("t1", "1"))  # (the channel is open now)
        path = h.runner.jobprocs.channel.path
        assert path is not None
        env = {**os.environ, ENV_SOCKET: path, ENV_SECRET: "guessed"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return out.decode()

    assert "refused: this process is not one the worker started" in scenario(tmp_path, body)


def test_output_held_between_items_is_bounded() -> None:
    got: list[tuple[str, Stream, str]] = []
    out = jobproc.Output(lambda token, stream, text: got.append((token, stream, text)), "t1")
    out("stdout", "a")
    out.hold()
    out("stdout", "b" * HELD_MAX)
    out("stderr", "c" * 10)  # over the bound: dropped, and said so
    out.to("t2")
    out("stdout", "d")
    assert got == [
        ("t1", "stdout", "a"),
        ("t2", "stdout", "b" * HELD_MAX),
        ("t2", "stderr", "[triggerfish: 10 characters printed between items dropped]\n"),
        ("t2", "stdout", "d"),
    ]
