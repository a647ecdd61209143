"""The worker against a small stand-in supervisor speaking the HTTP protocol over real sockets.

The stub hands out assignments from a queue within the host's slots, answers tokens it does
not know with ``cancel`` (as the real supervisor does), and records every request. The real
end-to-end tests run against the real supervisor elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from triggerfish.api.schemas import (
    Assignment,
    LogChunk,
    PullRequest,
    PullResponse,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    ReportResponse,
)
from triggerfish.worker import Worker, WorkerOptions

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="the worker runs commands on POSIX only"),
    pytest.mark.timeout(60),
]


def gone_410() -> JSONResponse:
    return JSONResponse({"error": {"code": "session_gone", "message": "register again"}}, 410)


@dataclass
class Stub:
    """A stand-in supervisor. Its state lives in the server's event loop."""

    sock: socket.socket
    heartbeat: float = 0.5
    slots: int = 1
    refuse_register: int | None = None  # answer register with this status
    fail_reports: int = 0  # answer the next N reports with 503
    queue: list[Assignment] = field(default_factory=list)
    session: str | None = None
    outstanding: set[str] = field(default_factory=set)
    registrations: list[tuple[RegisterRequest, str | None]] = field(default_factory=list)
    pulls: list[tuple[float, PullRequest]] = field(default_factory=list)
    reports: list[tuple[float, str, str]] = field(default_factory=list)  # (time, token, status)
    report_bodies: dict[str, Any] = field(default_factory=dict)
    failed_reports: list[float] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    logs: list[LogChunk] = field(default_factory=list)
    order: list[tuple[str, str]] = field(default_factory=list)  # ("log"|"report", token)
    cancel: dict[str, None] = field(default_factory=dict)  # to send, in this order

    def __post_init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.changed: asyncio.Event | None = None
        self.app = self._app()
        config = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    # -------------------------------------------------------------- control from the test

    def start(self) -> None:
        self.thread.start()
        wait_until(lambda: self.server.started, what="stub started")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def call(self, fn: Callable[[], None]) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._call, fn)

    def _call(self, fn: Callable[[], None]) -> None:
        fn()
        self._wake()

    def push(self, *assignments: Assignment) -> None:
        self.call(lambda: self.queue.extend(assignments))

    def cancel_token(self, token: str) -> None:
        self.call(lambda: self.cancel.setdefault(token))

    def forget_session(self) -> None:
        def forget() -> None:
            self.session = None
            self.outstanding.clear()

        self.call(forget)

    def report_of(self, token: str) -> dict[str, Any]:
        wait_until(lambda: token in self.report_bodies, what=f"report of {token}")
        body: dict[str, Any] = self.report_bodies[token]
        return body

    def stdout(self, token: str) -> str:
        return "".join(c.data for c in self.logs if c.token == token and c.stream == "stdout")

    # -------------------------------------------------------------- the server

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        self.changed = asyncio.Event()
        loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        loop.close()

    def _wake(self) -> None:
        assert self.changed is not None
        self.changed.set()

    def _app(self) -> FastAPI:
        app = FastAPI()
        stub = self

        @app.post("/api/v1/workers/register")
        async def register(request: Request, body: RegisterRequest) -> Any:
            stub.registrations.append((body, request.headers.get("authorization")))
            if stub.refuse_register is not None:
                return JSONResponse(
                    {"error": {"code": "no", "message": "go away"}}, stub.refuse_register
                )
            stub.session = uuid.uuid4().hex
            stub.outstanding.clear()  # a new session voids the old one's work
            return RegisterResponse(
                host=body.name, session=stub.session, heartbeat=stub.heartbeat, host_timeout=30.0
            )

        @app.post("/api/v1/workers/{host}/pull")
        async def pull(host: str, body: PullRequest) -> Any:
            stub.pulls.append((time.monotonic(), body))
            deadline = time.monotonic() + body.wait
            assert stub.changed is not None
            while True:
                if body.session != stub.session:
                    return gone_410()
                cancel = [t for t in body.running if t not in stub.outstanding or t in stub.cancel]
                cancel += [t for t in stub.cancel if t not in cancel]  # queued ones too
                for t in cancel:
                    stub.cancel.pop(t, None)
                free = stub.slots - len(stub.outstanding)
                give, stub.queue = stub.queue[:free], stub.queue[free:]
                stub.outstanding.update(a.token for a in give)
                left = deadline - time.monotonic()
                if give or cancel or left <= 0:
                    return PullResponse(assignments=give, cancel=cancel)
                stub.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stub.changed.wait(), left)

        @app.post("/api/v1/workers/{host}/report")
        async def report(host: str, body: ReportRequest) -> Any:
            if body.session != stub.session:
                return gone_410()
            if stub.fail_reports > 0:
                stub.fail_reports -= 1
                stub.failed_reports.append(time.monotonic())
                return JSONResponse({"error": {"code": "store", "message": "busy"}}, 503)
            out = ReportResponse()
            for r in body.reports:
                stub.order.append(("report", r.token))
                if r.token in stub.outstanding:
                    stub.outstanding.discard(r.token)
                    out.accepted.append(r.token)
                    stub.reports.append((time.monotonic(), r.token, r.status))
                    stub.report_bodies[r.token] = r.model_dump()
                else:
                    out.ignored.append(r.token)
                    stub.ignored.append(r.token)
            stub._wake()
            return out

        @app.post("/api/v1/workers/{host}/log")
        async def log(host: str, body: LogChunk) -> Any:
            if body.session != stub.session:
                return gone_410()
            stub.logs.append(body)
            stub.order.append(("log", body.token))
            return {"accepted": True}

        return app


def wait_until(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what or check}")


def bound_socket() -> socket.socket:
    """A socket bound to a free port, not yet listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class WorkerThread:
    def __init__(self, url: str, **kw: Any) -> None:
        kw.setdefault("name", "w1")
        kw.setdefault("grace", 2.0)
        self.worker = Worker(WorkerOptions(url=url, **kw))
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.code = asyncio.run(self.worker.run())

    def stop(self) -> int | None:
        self.worker.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the worker did not stop"
        return self.code


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub(bound_socket())
    s.start()
    yield s
    s.stop()


def job(token: str, cmd: str, **kw: Any) -> Assignment:
    fields: dict[str, Any] = {
        "token": token,
        "job": 1,
        "subid": 0,
        "work": None,
        "pgrp": 1,
        "name": "j",
        "prototype": "cmdline",
        "package": {"cmdline": cmd},
    }
    fields.update(kw)
    return Assignment(**fields)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ---------------------------------------------------------------- tests


def test_runs_work_and_reports_after_its_output(stub: Stub) -> None:
    stub.slots = 2
    w = WorkerThread(stub.url, slots=2, token="secret-token", labels={"site": "paris"})
    try:
        wait_until(lambda: stub.registrations, what="registration")
        reg, auth = stub.registrations[0]
        assert auth == "Bearer secret-token"
        assert reg.name == "w1" and reg.slots == 2 and reg.properties["site"] == "paris"
        assert reg.properties["cores"] >= 1
        stub.push(
            job("a", "echo out-a; echo err-a >&2"),
            job("b", "exit 4"),
            job(
                "c",
                "echo QB_FRAME_NUMBER",
                prototype="cmdrange",
                work="7",
                frame_start=7,
                frame_end=7,
                frame_step=1,
            ),
            job("d", "true", prototype="task"),
        )
        assert stub.report_of("a")["status"] == "complete"
        b = stub.report_of("b")
        assert isinstance(b["seconds"], float) and b["seconds"] >= 0  # its run time
        assert b | {"result": {}, "seconds": 0} == {
            "seconds": 0,
            "token": "b",
            "status": "failed",
            "exit_code": 4,
            "result": {},
            "error": "exited with 4",
            "preflight": None,
        }
        assert stub.report_of("c")["status"] == "complete"
        # a task job without a target fails alone, in the worker's task process
        assert stub.report_of("d")["error"] == "target 'None': expected 'package.module:function'"
        assert stub.stdout("a") == "out-a\n"
        assert stub.stdout("c") == "7\n"
        assert "".join(c.data for c in stub.logs if c.stream == "stderr") == "err-a\n"
        # Output of an attempt goes before its report; silent attempts send no log at all.
        for token in ("a", "c"):
            first_report = stub.order.index(("report", token))
            assert all(i < first_report for i, e in enumerate(stub.order) if e == ("log", token))
        assert not any(c.token in ("b", "d") for c in stub.logs)
        # The pull after an assignment arrived listed its token as running.
        assert any("a" in p.running for _, p in stub.pulls)
    finally:
        assert w.stop() == 0


def test_waits_for_an_unreachable_supervisor(caplog: pytest.LogCaptureFixture) -> None:
    sock = bound_socket()
    s = Stub(sock)
    w = WorkerThread(s.url)
    try:
        time.sleep(1.0)  # refused, refused, refused ...
        s.start()
        wait_until(lambda: s.registrations, what="registration after the outage")
        s.push(job("a", "echo hi"))
        assert s.report_of("a")["status"] == "complete"
    finally:
        assert w.stop() == 0
        s.stop()
    warnings = [
        r
        for r in caplog.records
        if getattr(r, "action", "") == "supervisor_unreachable" and r.levelname == "WARNING"
    ]
    assert len(warnings) == 1  # once per outage, not once per attempt


def test_retries_reports_and_keeps_listing_their_tokens(stub: Stub) -> None:
    stub.heartbeat = 0.1
    stub.fail_reports = 3
    w = WorkerThread(stub.url)
    try:
        stub.push(job("a", "echo hi"))
        assert stub.report_of("a")["status"] == "complete"
        assert len(stub.failed_reports) == 3
        first_failure = stub.failed_reports[0]
        last_failure = stub.failed_reports[-1]
        # While its report was unacknowledged, every pull still listed the token.
        between = [p for t, p in stub.pulls if first_failure < t < last_failure]
        assert between and all("a" in p.running for p in between)
        assert stub.stdout("a") == "hi\n"
    finally:
        assert w.stop() == 0


def test_registers_again_when_the_session_is_lost(stub: Stub, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    w = WorkerThread(stub.url)
    try:
        stub.push(job("old", f"echo $$ > {pidfile}; exec sleep 30"))
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile")
        pid = int(pidfile.read_text())
        stub.forget_session()
        wait_until(lambda: len(stub.registrations) == 2, what="second registration")
        # The new session does not know the old token: the stub cancels it, the worker kills it
        # and its report is ignored.
        wait_until(lambda: gone(pid), what="the old attempt killed")
        wait_until(lambda: "old" in stub.ignored, what="the old report")
        stub.push(job("new", "echo again"))
        assert stub.report_of("new")["status"] == "complete"
        assert stub.stdout("new") == "again\n"
    finally:
        assert w.stop() == 0


def test_cancel_kills_the_process_group(stub: Stub, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    w = WorkerThread(stub.url)
    try:
        stub.push(job("a", f"sleep 60 & echo $! $$ > {pids}; wait"))
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="pids")
        stub.cancel_token("a")
        report = stub.report_of("a")
        assert report["status"] == "failed" and "cancelled" in report["error"]
        for pid in map(int, pids.read_text().split()):
            wait_until(functools.partial(gone, pid), what=f"process {pid} gone")
    finally:
        assert w.stop() == 0


def test_items_held_behind_a_cancelled_one_still_run_in_order(stub: Stub) -> None:
    # Lookahead: b waits behind a, c behind b (the worker runs such a chain in one task).
    stub.slots = 3
    w = WorkerThread(stub.url)
    try:
        stub.push(
            job("a", "echo a; sleep 60"),
            job("b", "echo b", after="a"),
            job("c", "echo c; exit 3", after="b"),
        )
        wait_until(lambda: stub.stdout("a") == "a\n", what="output of a")
        assert not stub.logs or {c.token for c in stub.logs} == {"a"}  # b and c wait
        stub.cancel_token("a")
        assert "cancelled" in stub.report_of("a")["error"]
        assert stub.report_of("b")["status"] == "complete"
        assert stub.report_of("c")["error"] == "exited with 3"
        assert [t for _, t, _ in stub.reports] == ["a", "b", "c"]
        assert (stub.stdout("b"), stub.stdout("c")) == ("b\n", "c\n")
        wait_until(lambda: w.worker.running == [], what="nothing left running or unacknowledged")
    finally:
        assert w.stop() == 0


def test_a_whole_queued_chain_withdrawn_at_once_never_runs(stub: Stub) -> None:
    # The supervisor withdraws b, c and d (held behind a) in one answer, first to last: the
    # worker drops them all, runs none of them, and goes on serving.
    stub.slots = 4
    w = WorkerThread(stub.url)
    try:
        stub.push(
            job("a", "echo a; sleep 60"),
            job("b", "echo b", after="a"),
            job("c", "echo c", after="b"),
            job("d", "echo d", after="c"),
        )
        wait_until(lambda: stub.stdout("a") == "a\n", what="output of a")

        def withdraw() -> None:
            stub.cancel.update(dict.fromkeys(("b", "c", "d")))

        stub.call(withdraw)
        wait_until(lambda: not stub.cancel, what="b, c and d withdrawn")
        time.sleep(0.2)
        stub.cancel_token("a")
        assert "cancelled" in stub.report_of("a")["error"]
        stub.push(job("e", "echo e"))
        assert stub.report_of("e")["status"] == "complete"
        assert [t for _, t, _ in stub.reports] == ["a", "e"]
        assert {c.token for c in stub.logs} <= {"a", "e"}
    finally:
        assert w.stop() == 0


def test_refused_registration_ends_with_exit_code_2(stub: Stub) -> None:
    stub.refuse_register = 403
    w = WorkerThread(stub.url)
    w.thread.join(10)
    assert w.code == 2
    assert len(stub.registrations) == 1


def test_sigterm_stops_the_worker_and_its_commands(stub: Stub, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = (
        "import logging, sys\n"
        "from triggerfish.worker import run_worker\n"
        "logging.basicConfig(level='INFO')\n"
        f"sys.exit(run_worker({stub.url!r}, name='w-sig', grace=2.0))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        stub.push(job("a", f"sh -c 'echo $$ > {pidfile}; sleep 60'; sleep 60"))
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile")
        grandchild = int(pidfile.read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        wait_until(lambda: gone(grandchild), what="the command's children gone")
        # Killed because the worker stopped: not reported as a failure of the command.
        assert "a" not in stub.report_bodies
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_the_check_runs_before_registering_and_a_stop_does_not_wait_for_it(
    stub: Stub, tmp_path: Path
) -> None:
    sick = tmp_path / "sick"
    sick.touch()
    w = WorkerThread(stub.url, check=f"test ! -e {sick}", check_interval=0.2)
    try:
        wait_until(lambda: stub.registrations, what="registration")
        reg, _ = stub.registrations[0]
        assert reg.check is not None and "exited with 1" in reg.check
    finally:
        assert w.stop() == 0
    hung = WorkerThread(stub.url, name="w2", check="sleep 30", check_interval=30)
    time.sleep(0.3)
    began = time.monotonic()
    assert hung.stop() == 0
    assert time.monotonic() - began < 5
