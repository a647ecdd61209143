"""Run assignments as child processes and turn their ends into reports.

``task`` assignments go to the :class:`~triggerfish.worker.taskpool.TaskPool`. Items of a job
type (``--jobtypes``) go to their instance's process, started here like a command and kept for
the instance's next items (:mod:`triggerfish.worker.jobproc`); cancel, suspend and the guard
apply to it as to a command while an item is open.

``cmdline`` and ``cmdrange`` assignments run ``package["cmdline"]`` with ``/bin/sh -c`` in a
session of their own. Their output goes to an :data:`OutputSink` as text while they run. When
the command ends, whatever it left behind in its process group is killed (so that no frame
outlives its attempt, and the output pipes close). ``cancel`` sends SIGTERM to the group and
SIGKILL after the grace period.

With a :class:`~triggerfish.worker.guard.Guard` (the worker gives one; :meth:`Runner.start`
starts its guardian), each command's process group is recorded with the guardian while it
runs, and every command gets the guard's mark in its environment: when the worker dies, the
guardian kills them (see :mod:`triggerfish.worker.guardian`).

Nothing that goes wrong with one assignment (bad package, bad cwd, missing shell) raises: it
becomes a failed report.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from triggerfish.api.schemas import Assignment, Flights, Report, ReportResponse
from triggerfish.worker import flights, worklog
from triggerfish.worker.command import Command, build_command, command_env
from triggerfish.worker.errors import CommandError, WorkerError
from triggerfish.worker.exits import describe_exit
from triggerfish.worker.guard import Guard
from triggerfish.worker.jobproc import JobProcess, JobProcs
from triggerfish.worker.jobtypes import JobType
from triggerfish.worker.process import ChildProcess, OutputCallback, Stream
from triggerfish.worker.taskpool import TaskPool

logger = logging.getLogger(__name__)

OutputSink = Callable[[str, Stream, str], None]
"""Receives ``(token, stream, text)`` for each piece of output, in order per stream."""

SHELL_PROTOTYPES = ("cmdline", "cmdrange")
CANCELLED = "cancelled by the supervisor"
MAX_SUSPENDED = 10_000  # suspended tokens remembered (those of attempts that never start)


def _ignore_output(token: str, stream: Stream, text: str) -> None:
    pass


def outcome(token: str, returncode: int, cancelled: str | None = None) -> Report:
    """The report of an attempt that ended with ``returncode`` (negative: signal)."""
    error = describe_exit(returncode)
    if cancelled is not None:
        return Report(
            token=token,
            status="failed",
            exit_code=returncode,
            error=f"{cancelled}; {error or 'exited with 0'}",
        )
    if error is None:
        return Report(token=token, status="complete", exit_code=0)
    return Report(token=token, status="failed", exit_code=returncode, error=error)


def failed(token: str, error: str) -> Report:
    return Report(token=token, status="failed", error=error)


def describe_spawn_error(exc: BaseException, cwd: str | None) -> str:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if cwd is not None and exc.filename == cwd:
            return f"cannot start the command: working directory {cwd!r}: {reason}"
        if exc.filename is not None:
            return f"cannot start the command: {exc.filename!r}: {reason}"
        return f"cannot start the command: {reason}"
    return f"cannot start the command: {exc}"


class _Emit:
    """The output callback of one attempt: ``sink`` with the attempt's token."""

    __slots__ = ("sink", "token")

    def __init__(self, sink: OutputSink, token: str) -> None:
        self.sink = sink
        self.token = token

    def __call__(self, stream: Stream, text: str) -> None:
        self.sink(self.token, stream, text)


@dataclass(slots=True)
class _Attempt:
    token: str
    child: ChildProcess
    cancelled: str | None = None
    deadline: float = 0.0
    kill_timer: asyncio.TimerHandle | None = None

    def stop_timer(self) -> None:
        if self.kill_timer is not None:
            self.kill_timer.cancel()
            self.kill_timer = None


class Runner:
    """Runs assignments; knows which are running so that it can cancel them."""

    def __init__(
        self,
        sink: OutputSink | None = None,
        *,
        grace: float = 5.0,
        drain_timeout: float = 2.0,
        kill_leftovers: bool = True,
        task_env: dict[str, str] | None = None,
        url: str | None = None,
        guard: Guard | None = None,
        host: str = "",
        jobtypes: Mapping[str, JobType] | None = None,
    ) -> None:
        self._sink = sink or _ignore_output
        self.grace = grace
        self.drain_timeout = drain_timeout
        self.kill_leftovers = kill_leftovers
        self.guard = guard
        self._active: dict[str, _Attempt] = {}
        self.host = host  # the worker's host name (TRIGGERFISH_HOST of flight programs)
        self.instances = flights.Instances()
        # attempts running flight checks (several processes, one after the other): why the
        # supervisor cancelled one (None while it goes on)
        self._flights: dict[str, str | None] = {}
        # attempts the supervisor suspended (until it resumes them): a process of theirs that
        # starts meanwhile (the command after its preflights, one queued ahead) is stopped too
        self._suspended: set[str] = set()
        self.tasks = TaskPool(self._sink, grace=grace, env=task_env, guard=guard)
        self.jobprocs = JobProcs(jobtypes or {}, host, self._sink)  # a process per instance
        self._base_env = dict(os.environ)  # the commands' environment, read once
        if url is not None:  # commands may talk to the supervisor (qb, Client): their job's token
            self._base_env["TRIGGERFISH_URL"] = url
        if guard is not None:
            self._base_env.update(guard.env)

    async def start(self) -> None:
        """Start the guardian (ending what a previous life left) and a task process."""
        if self.guard is not None:
            self.guard.start()
        self.tasks.warm()

    async def aclose(self) -> None:
        """Stop the job types' and the task processes, then the guardian."""
        await self.jobprocs.aclose(self.grace)
        await self.tasks.aclose()
        if self.guard is not None:
            await self.guard.aclose()

    @property
    def tokens(self) -> list[str]:
        """Tokens of the attempts whose process is running now."""
        return list(self._active) + self.tasks.tokens

    def pid(self, token: str) -> int | None:
        att = self._active.get(token)
        return att.child.pid if att is not None else None

    async def run(self, assignment: Assignment) -> Report:
        """Run one assignment to its end and return its report; never raises for its faults."""
        token = assignment.token
        if token in self._active or token in self.tasks.tokens:
            raise WorkerError(f"attempt {token} is already running")
        try:
            return await self._run(assignment)
        finally:
            self._suspended.discard(token)

    async def _run(self, assignment: Assignment) -> Report:
        token = assignment.token
        if assignment.prototype == "task":
            return await self.tasks.run(assignment)
        jobtype = self.jobprocs.jobtypes.get(assignment.prototype)
        if jobtype is not None:
            if assignment.flights is not None:  # (flight programs get a command's env)
                env = Command([], command_env(assignment, self._base_env), assignment.cwd)
                item = functools.partial(self._jobtype_item, assignment, jobtype)
                return await self._fly(assignment, assignment.flights, env, item)
            return await self._jobtype_item(assignment, jobtype)
        if assignment.prototype not in SHELL_PROTOTYPES:
            return failed(token, f"prototype {assignment.prototype!r} is unknown to this worker")
        try:
            command = build_command(assignment, self._base_env)
        except CommandError as exc:
            return failed(token, exc.message)
        if assignment.flights is not None:
            return await self._fly(assignment, assignment.flights, command)
        return await self._execute(assignment, command)

    async def _fly(
        self, a: Assignment, f: Flights, command: Command,
        item: Callable[[], Awaitable[Report]] | None = None,
    ) -> Report:  # fmt: skip
        """The command (or ``item``: a job type's item) with the job's flight checks around it
        (``worker.flights``)."""
        token = a.token
        self._flights[token] = None
        try:
            for step in flights.steps(a, f, self.instances.first(a)):
                cancelled = self._flights[token]
                if cancelled is not None:
                    return failed(token, f"{cancelled} between flight checks")
                if step.kind == flights.COMMAND:
                    report = await (item() if item is not None else self._execute(a, command))
                    if report.status != "complete":
                        return report
                    continue
                run = flights.flight_command(step, command, self.host)
                report = await self._execute(a, run, timeout=f.timeout, what=step.kind)
                if report.status == "complete":
                    if step.kind == "preflight":
                        self.instances.took_off(a)
                    continue
                if self._flights[token] is None and step.kind in flights.PREFLIGHTS:
                    return flights.refused(token, step, report)
                return flights.landed_badly(token, step, report)
            return Report(token=token, status="complete", exit_code=0)
        finally:
            del self._flights[token]
            if a.flight == "postflight" or a.work is None:
                self.instances.landed(a)

    async def _execute(
        self, assignment: Assignment, command: Command, timeout: float | None = None,
        what: str = "command",
    ) -> Report:  # fmt: skip
        """Run ``command`` for ``assignment`` to its end (killed after ``timeout`` seconds)."""
        token = assignment.token
        child = self._spawn(assignment, command, _Emit(self._sink, token))
        if isinstance(child, Report):
            return child
        guard = self.guard
        attempt = _Attempt(token, child)
        self._active[token] = attempt
        if token in self._suspended:  # (suspended before this process of it started)
            child.signal_group(signal.SIGSTOP)
        limit = None
        if timeout is not None:
            reason = f"{what} timed out after {timeout:g} s"
            limit = asyncio.get_running_loop().call_later(timeout, self._stop, token, reason)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "started %s as pid %s",
                token,
                child.pid,
                extra={
                    "action": "attempt_start",
                    **worklog.fields(token, assignment),
                    "pid": child.pid,
                },
            )
        try:
            return await self._finish(attempt)
        finally:
            if limit is not None:
                limit.cancel()
            attempt.stop_timer()
            del self._active[token]
            if guard is not None:
                guard.forget(child.pid)  # (before close() reaps it: the pid is still ours)
            child.close()

    def _spawn(
        self, a: Assignment, command: Command, emit: OutputCallback
    ) -> ChildProcess | Report:
        """Start ``command`` for ``a`` (recorded with the guard); a failed report if it cannot
        start."""
        try:
            child = ChildProcess.spawn(
                command.argv, cwd=command.cwd, env=command.env, on_output=emit
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            error = describe_spawn_error(exc, command.cwd)
            logger.info(
                "%s: %s",
                a.token,
                error,
                extra={"action": "attempt_not_started", **worklog.fields(a.token, a)},
            )
            return failed(a.token, error)
        if self.guard is not None:
            self.guard.add(child.pid, child.pipe_fds)
        return child

    async def _jobtype_item(self, a: Assignment, jobtype: JobType) -> Report:
        """Item ``a`` of a job type: handed to its instance's process (started if need be)."""
        proc = self.jobprocs.get(a)
        if proc is not None and not proc.takes_items():  # (being killed, or ending)
            self.jobprocs.retire(proc)
            proc = None
        if proc is None:
            started = await self._start_jobtype(a, jobtype)
            if isinstance(started, Report):
                return started
            proc = started
        attempt = proc.attempt
        assert isinstance(attempt, _Attempt)
        attempt.token = a.token
        self._active[a.token] = attempt
        if a.token in self._suspended:
            attempt.child.signal_group(signal.SIGSTOP)
        try:
            return await proc.run_item(a)
        finally:
            del self._active[a.token]
            if attempt.cancelled is None:
                attempt.token = proc.label

    async def _start_jobtype(self, a: Assignment, jobtype: JobType) -> JobProcess | Report:
        proc = await self.jobprocs.new(a, jobtype, self._base_env)
        child = self._spawn(a, proc.command, proc.output)
        if isinstance(child, Report):
            self.jobprocs.gone(proc)
            return child
        attempt = _Attempt(a.token, child)
        proc.attach(attempt, asyncio.create_task(self._jobtype_life(proc, attempt)))
        logger.debug(
            "started job type %s for %s as pid %s",
            jobtype.name,
            a.token,
            child.pid,
            extra={"action": "jobtype_start", **worklog.fields(a.token, a), "pid": child.pid},
        )
        return proc

    async def _jobtype_life(self, proc: JobProcess, attempt: _Attempt) -> Report:
        """Watch a job type's process to its end (the outcome of the item open then, if any)."""
        try:
            return await self._finish(attempt)
        finally:
            attempt.stop_timer()
            if self.guard is not None:
                self.guard.forget(attempt.child.pid)  # (before close() reaps it)
            attempt.child.close()
            self.jobprocs.gone(proc)

    def reported(self, reports: Sequence[Report], resp: ReportResponse) -> None:
        """The supervisor acknowledged ``reports`` and answered ``resp``: the job types'
        instances that get no next item are told so (see :meth:`JobProcs.reported`)."""
        if self.jobprocs.live:
            tokens = {r.token for r in reports}
            going = {(a.job, a.subid) for a in resp.assignments}
            self.jobprocs.reported(tokens, going, resp.ended)

    async def _finish(self, attempt: _Attempt) -> Report:
        child = attempt.child
        await child.exited()
        if attempt.cancelled is not None:
            # The rest of the group gets what is left of the grace period; the pipes closing
            # tells that every process that held them has gone.
            await child.pipes_closed(attempt.deadline - asyncio.get_running_loop().time())
            child.signal_group(signal.SIGKILL)
        elif self.kill_leftovers:
            child.signal_group(signal.SIGKILL)
        if self.guard is not None:
            self.guard.forget(child.pid)  # before the reap: the pid is still ours
        returncode = child.reap()
        if not await child.pipes_closed(self.drain_timeout):
            logger.warning(
                "%s: output pipes still open %.1f s after the command ended; "
                "the rest of its output is dropped",
                attempt.token,
                self.drain_timeout,
                extra={"action": "attempt_pipes_open", **worklog.fields(attempt.token)},
            )
        report = outcome(attempt.token, returncode, attempt.cancelled)
        level = logging.DEBUG if report.status == "complete" else logging.INFO
        if logger.isEnabledFor(level):
            self._log_end(attempt, report, returncode, level)
        return report

    @staticmethod
    def _log_end(attempt: _Attempt, report: Report, returncode: int, level: int) -> None:
        logger.log(
            level,
            "%s %s%s",
            attempt.token,
            report.status,
            f": {report.error}" if report.error else "",
            extra={
                "action": "attempt_end",
                **worklog.fields(attempt.token),
                "exit_code": returncode,
            },
        )

    def cancel(self, token: str, reason: str = CANCELLED) -> bool:
        """SIGTERM the attempt's process group, SIGKILL after ``grace``; False if unknown."""
        self._suspended.discard(token)
        if token in self._flights:  # (between two of its processes, none may be running)
            self._flights[token] = reason
            self._stop(token, reason)
            return True
        return self._stop(token, reason)

    def _stop(self, token: str, reason: str) -> bool:
        attempt = self._active.get(token)
        if attempt is None:
            return self.tasks.cancel(token, reason)
        if attempt.cancelled is not None:
            return True
        loop = asyncio.get_running_loop()
        attempt.cancelled = reason
        attempt.deadline = loop.time() + self.grace
        attempt.child.signal_group(signal.SIGTERM)
        attempt.child.signal_group(signal.SIGCONT)  # (a suspended one must run to end)
        attempt.kill_timer = loop.call_later(self.grace, attempt.child.signal_group, signal.SIGKILL)
        logger.info(
            "cancelling %s (%s)",
            token,
            reason,
            extra={"action": "attempt_cancel", **worklog.fields(token)},
        )
        return True

    def suspend(self, token: str, stop: bool) -> bool:
        """SIGSTOP (``stop``) or SIGCONT the attempt's process group; False if it runs no
        process now (it is stopped as soon as one starts, until it is resumed)."""
        if stop:
            if len(self._suspended) >= MAX_SUSPENDED:  # (tokens never started: forget them)
                self._suspended.clear()
            self._suspended.add(token)
        else:
            self._suspended.discard(token)
        attempt = self._active.get(token)
        if attempt is None or attempt.cancelled is not None:
            return False
        attempt.child.signal_group(signal.SIGSTOP if stop else signal.SIGCONT)
        logger.info(
            "%s %s",
            "suspending" if stop else "resuming",
            token,
            extra={"action": "attempt_suspend" if stop else "attempt_resume",
                   **worklog.fields(token)},
        )  # fmt: skip
        return True

    def cancel_all(self, reason: str) -> list[str]:
        """Cancel every running attempt; returns their tokens."""
        tokens = self.tokens
        for token in tokens:
            self.cancel(token, reason)
        return tokens

    def kill_all(self) -> None:
        """SIGKILL every running process group now (a second Ctrl-C)."""
        self.tasks.kill_all()
        self.jobprocs.kill_all()
        for attempt in self._active.values():
            if attempt.cancelled is None:
                attempt.cancelled = "killed by the worker"
            attempt.deadline = 0.0
            attempt.child.signal_group(signal.SIGKILL)
