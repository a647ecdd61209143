"""Tasks (prototype ``task``) run in task processes that the worker keeps between tasks.

A task process (``python -m triggerfish.tasks.host``) runs one task at a time; a worker has at
most one per slot busy, and keeps the idle ones for the next task (starting Python for every
task would cost more than most tasks). Whatever a task does to its process — ``os._exit``, a
crash, a signal — ends that process only: the attempt fails with what happened, and the next
task gets a fresh process. A task past its ``package.timeout``, or cancelled, gets its process
killed (SIGTERM, SIGKILL after the grace period).

The worker starts one task process when it starts (:meth:`TaskPool.warm`), so that the first
task on a host does not wait for Python to start. With a guard, each task process is recorded
with the worker's guardian and carries its mark: it dies with the worker, as commands do.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from triggerfish.api.schemas import Assignment, Report
from triggerfish.errors import TriggerfishError
from triggerfish.tasks.host import MARK_ENV, marker
from triggerfish.worker import worklog
from triggerfish.worker.exits import describe_exit
from triggerfish.worker.guard import Guard
from triggerfish.worker.process import Stream

logger = logging.getLogger(__name__)

Sink = Callable[[str, Stream, str], None]
ANSWER_LIMIT = 64 * 1024 * 1024  # one answer line on stdout (the return value or traceback)
MARKED_LIMIT = 64 * 1024  # an answer after the marker is at most PIPE_BUF bytes
PRIVATE_ENV = ("TRIGGERFISH_TOKEN", "TRIGGERFISH_WORKER_TOKEN")
DRAIN_WAIT = 2.0


class HostDied(TriggerfishError):
    """The task process ended (or was killed) before answering."""


class TaskHost:
    """One task process, its pipes and the reader of its output.

    The output (stderr) carries what the task prints, then, at the end of each task, the
    marker and the answer line (``tasks.host``): one read of the worker per task. An empty
    answer line after the marker means the answer is on stdout (a long one).
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        sink: Sink,
        mark: bytes,
        guard: Guard | None = None,
    ) -> None:
        self.proc = proc
        self._guard = guard
        self._sink = sink
        self._mark = mark
        self.token: str | None = None
        self.killed: str | None = None
        self._answer: asyncio.Future[bytes | None] | None = None
        self._drained = asyncio.Event()  # the output has ended (the process is gone)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._reader = asyncio.create_task(self._read_output(), name=f"task-output-{proc.pid}")

    @classmethod
    async def start(
        cls, env: Mapping[str, str], sink: Sink, guard: Guard | None = None
    ) -> TaskHost:
        nonce = secrets.token_hex(16)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "triggerfish.tasks.host",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**env, MARK_ENV: nonce},
            start_new_session=True, limit=ANSWER_LIMIT,
        )  # fmt: skip
        if guard is not None:
            guard.add(proc.pid)
        return cls(proc, sink, marker(nonce), guard)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self.killed is None

    async def _read_output(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        mark = self._mark
        held = b""  # the start of a marker, maybe, or of an answer line
        answer: list[bytes] | None = None  # after a marker: the answer line so far
        size = 0
        try:
            while True:
                data = await stream.read(64 * 1024)
                if not data:
                    if answer is None:
                        self._emit(self._decoder.decode(held))
                    self._emit(self._decoder.decode(b"", final=True))
                    return
                buf = held + data if held else data
                held = b""
                while buf:
                    if answer is not None:  # the answer line, up to its newline
                        end = buf.find(b"\n")
                        if end < 0:
                            answer.append(buf)
                            size += len(buf)
                            if size > MARKED_LIMIT:
                                self._settle(None)  # not an answer: the host is broken
                                self.kill("the task process wrote an unreadable answer")
                                answer = None
                            break
                        answer.append(buf[:end])
                        self._settle(b"".join(answer))
                        answer, size, buf = None, 0, buf[end + 1 :]
                        continue
                    at = buf.find(mark)
                    if at >= 0:
                        self._emit(self._decoder.decode(buf[:at]))
                        answer, buf = [], buf[at + len(mark) :]
                        continue
                    # no whole marker: hold back what may be the start of one
                    nul = buf.rfind(b"\x00", max(0, len(buf) - len(mark) + 1))
                    if nul >= 0 and mark.startswith(buf[nul:]):
                        buf, held = buf[:nul], buf[nul:]
                    self._emit(self._decoder.decode(buf))
                    break
        finally:
            self._drained.set()
            self._settle(None)

    def _settle(self, line: bytes | None) -> None:
        """The answer of the current task: its line, b"" (on stdout), None (no answer)."""
        fut, self._answer = self._answer, None
        if fut is not None and not fut.done():
            fut.set_result(line)

    def _emit(self, text: str) -> None:
        if text and self.token is not None:
            try:
                self._sink(self.token, "stdout", text)
            except Exception:
                logger.exception("output callback failed", extra={"action": "output_callback"})

    async def call(self, token: str, request: dict[str, Any]) -> dict[str, Any]:
        """Send one task; its answer. HostDied if the process ends first."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.token = token
        fut = self._answer = asyncio.get_running_loop().create_future()
        if self._drained.is_set():
            self._settle(None)
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            await self.proc.stdin.drain()
            line = await fut
            if line == b"":  # a long answer: on stdout
                line = await self.proc.stdout.readline()
                if not line.endswith(b"\n"):
                    line = None
        except (ConnectionError, BrokenPipeError, ValueError) as exc:
            raise HostDied(await self._why(f"{exc}")) from None
        if line is None:
            raise HostDied(await self._why("no answer"))
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            self.kill("the task process wrote an unreadable answer")
            raise HostDied("the task process wrote an unreadable answer") from None
        return answer

    async def _why(self, fallback: str) -> str:
        try:
            async with asyncio.timeout(5.0):
                code = await self.proc.wait()
        except TimeoutError:
            return f"the task process stopped answering ({fallback})"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_WAIT):
                await self._drained.wait()
        if self.killed is not None:
            return self.killed
        return f"the task process ended: {describe_exit(code) or 'exited with 0'}"

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def kill(self, why: str, grace: float = 0.0) -> None:
        """End the process (and anything it started): SIGTERM, SIGKILL after ``grace``."""
        if self.killed is None:
            self.killed = why
        if grace <= 0:
            self.signal(signal.SIGKILL)
            return
        self.signal(signal.SIGTERM)
        asyncio.get_running_loop().call_later(grace, self.signal, signal.SIGKILL)

    async def close(self) -> None:
        self.kill("worker stopping")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await self.proc.wait()
        if self._guard is not None:
            self._guard.forget(self.proc.pid)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


class TaskPool:
    """Runs task assignments; keeps idle task processes for the next ones."""

    def __init__(
        self,
        sink: Sink,
        *,
        grace: float = 5.0,
        env: Mapping[str, str] | None = None,
        guard: Guard | None = None,
    ):
        self._sink = sink
        self.grace = grace
        base = os.environ if env is None else env
        self._env = {k: v for k, v in base.items() if k not in PRIVATE_ENV}
        if guard is not None:
            self._env.update(guard.env)
        self._guard = guard
        self._idle: list[TaskHost] = []
        self._busy: dict[str, TaskHost] = {}
        self._warming: asyncio.Task[None] | None = None

    @property
    def tokens(self) -> list[str]:
        return list(self._busy)

    @property
    def idle_pids(self) -> list[int]:
        """The pids of the task processes waiting for a task."""
        return [h.proc.pid for h in self._idle if h.alive]

    def warm(self) -> None:
        """Start a task process now, in the background, for the first task."""
        if self._warming is None and not self._idle:
            self._warming = asyncio.create_task(self._warm(), name="task-process-warm")

    async def _warm(self) -> None:
        try:
            host = await TaskHost.start(self._env, self._sink, self._guard)
        except OSError as exc:
            logger.warning(
                "cannot start a task process: %s", exc, extra={"action": "task_process_start"}
            )
            return
        self._idle.append(host)

    async def _acquire(self) -> TaskHost:
        if self._warming is not None and not self._warming.done():
            await asyncio.shield(self._warming)
        while self._idle:
            host = self._idle.pop()
            if host.alive:
                return host
            await host.close()
        return await TaskHost.start(self._env, self._sink, self._guard)

    async def run(self, a: Assignment) -> Report:
        token = a.token
        request = {
            "target": a.package.get("target"),
            "params": a.package.get("params"),
            "encoding": a.package.get("encoding", "json"),
        }
        if a.api_token is not None:  # tasks may add tasks, as the task's owner
            request["api_token"] = a.api_token
        timeout = a.package.get("timeout")
        try:
            host = await self._acquire()
        except OSError as exc:
            return Report(token=token, status="failed", error=f"cannot start a task process: {exc}")
        self._busy[token] = host
        try:
            if isinstance(timeout, int | float) and timeout > 0:
                async with asyncio.timeout(float(timeout)):
                    answer = await host.call(token, request)
            else:
                answer = await host.call(token, request)
        except TimeoutError:
            host.kill(f"timed out after {timeout:g} s: the task process was killed")
            return Report(token=token, status="failed", error=host.killed)
        except HostDied as exc:
            return Report(token=token, status="failed", error=str(exc))
        finally:
            del self._busy[token]
            host.token = None
            if host.alive:
                self._idle.append(host)
            else:
                await host.close()
        if answer.get("ok"):
            return Report(token=token, status="complete", exit_code=0,
                          result={"value": answer.get("value")})  # fmt: skip
        error = str(answer.get("error") or "the task failed")
        tb = answer.get("traceback")
        logger.info("%s failed: %s", token, error,
                    extra={"action": "task_failed", **worklog.fields(token)})  # fmt: skip
        return Report(token=token, status="failed", error=error,
                      result={"traceback": tb} if tb else {})  # fmt: skip

    def cancel(self, token: str, reason: str) -> bool:
        host = self._busy.get(token)
        if host is None:
            return False
        host.kill(f"{reason}: the task process was killed", self.grace)
        return True

    def kill_all(self) -> None:
        for host in self._busy.values():
            host.kill("killed by the worker")

    async def aclose(self) -> None:
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)
        hosts = self._idle + list(self._busy.values())
        self._idle = []
        await asyncio.gather(*(h.close() for h in hosts), return_exceptions=True)
