"""One process per instance of a job type: its items, and what it asks the worker.

The worker starts a job type's process (:mod:`triggerfish.worker.jobtypes`) for the first item
an instance (job + subid) gets on this host, and keeps it for the instance's next items. The
process talks to the worker through :mod:`triggerfish.qbback` (``qb.requestwork()`` and the
rest) over the worker's channel (:mod:`triggerfish.worker.jobchannel`), with a secret of its
own; the operations are :meth:`JobProcess.handle`'s.

An item is open from the moment the worker is handed it until ``reportwork`` (its end, with its
``resultpackage``) or the process's exit (a failure). ``requestwork`` answers with the open item
once; when the instance has no item, it waits until the worker is handed the next one, or
learns that there is none (:meth:`JobProcs.reported`): it then answers with that status
(``complete``, ``pending`` or ``blocked``), and the process is expected to call ``reportjob``
and exit. What the process prints goes to the open item's log (:class:`Output`). The processes
themselves are started, watched and killed by the :class:`~triggerfish.worker.runner.Runner`,
as commands are.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import triggerfish
from triggerfish.api.schemas import Assignment, Report
from triggerfish.worker.command import Command, command_env
from triggerfish.worker.jobchannel import ENV_SECRET, ENV_SOCKET, Channel, RequestError
from triggerfish.worker.jobtypes import JobType
from triggerfish.worker.process import Stream

logger = logging.getLogger(__name__)

ENV_NAME = "TRIGGERFISH_JOBTYPE"
ENDED = ("complete", "pending", "blocked")
WORK_STATUSES = ("complete", "failed", "running")  # (running: the item goes on)
Key = tuple[int, int]  # (job, subid): one instance
Sink = Callable[[str, Stream, str], None]  # (token, stream, text): the worker's logs
HELD_MAX = 64 * 1024  # characters printed between items kept for the next item's log
SITE_DIRS = ("site-packages", "dist-packages")  # on the worker's Python's path already


class Child(Protocol):
    def signal_group(self, sig: int) -> bool: ...

    def drain(self) -> None: ...


class Attempt(Protocol):
    """What a job process needs of the runner's record of its process."""

    token: str
    cancelled: str | None

    @property
    def child(self) -> Child: ...


def work_of(a: Assignment, host: str) -> dict[str, Any]:
    """The Work dict ``requestwork`` answers for item ``a`` (the shape ``qb.jobinfo`` gives)."""
    name = a.work or ""
    return {
        "name": name, "status": "running", "package": dict(a.work_package),
        "resultpackage": {}, "id": f"{a.job}:{name}", "target": f"{a.job}:{name}",
        "pid": a.job, "subid": a.subid, "host": host,
    }  # fmt: skip


def no_work(a: Assignment, status: str, host: str) -> dict[str, Any]:
    """The Work dict ``requestwork`` answers when the instance has no next item."""
    return {"name": "", "status": status, "package": {}, "resultpackage": {},
            "pid": a.job, "subid": a.subid, "host": host}  # fmt: skip


def job_of(a: Assignment, jt: JobType, host: str) -> dict[str, Any]:
    """The job dict ``jobobj`` answers: the job's package over job.conf's defaults."""
    return {
        "id": a.job, "name": a.name, "prototype": a.prototype, "pgrp": a.pgrp,
        "subid": a.subid, "host": host, "status": "running", "env": dict(a.env), "cwd": a.cwd,
        "package": {**jt.defaults, **a.package}, "jobtype": jt.describe(),
    }  # fmt: skip


def process_command(
    a: Assignment, jt: JobType, base: Mapping[str, str], socket: str, secret: str
) -> Command:
    """The process of ``jt`` for the instance of ``a``: the environment of a command (without
    an item's name or frames: it runs several), the channel, and ``triggerfish`` importable."""
    env = command_env(a, base, {})
    env.pop("TRIGGERFISH_WORK", None)
    ours = Path(triggerfish.__file__).resolve().parents[1]
    if ours.name not in SITE_DIRS:  # (a source tree: put it first; site-packages are there)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{ours}{os.pathsep}{path}" if path else str(ours)
    env["PYTHONUNBUFFERED"] = "1"  # its output reaches the item's log as it is printed
    env.update({ENV_SOCKET: socket, ENV_SECRET: secret, ENV_NAME: jt.name})
    return Command(list(jt.argv), env, a.cwd)


class Output:
    """A job type process's output: to the log of the open item; printed while none is open,
    held (up to :data:`HELD_MAX` characters) for the next one."""

    __slots__ = ("_held", "_sink", "dropped", "held_chars", "token")

    def __init__(self, sink: Sink, token: str) -> None:
        self._sink = sink
        self.token: str | None = token
        self._held: list[tuple[Stream, str]] = []
        self.held_chars = 0
        self.dropped = 0  # characters beyond HELD_MAX, dropped

    def __call__(self, stream: Stream, text: str) -> None:
        if self.token is not None:
            self._sink(self.token, stream, text)
        elif self.held_chars + len(text) <= HELD_MAX:
            self._held.append((stream, text))
            self.held_chars += len(text)
        else:
            self.dropped += len(text)

    def to(self, token: str) -> None:
        """From now on to the log of ``token``, after what was held."""
        self.token = token
        for stream, text in self._held:
            self._sink(token, stream, text)
        if self.dropped:
            note = f"[triggerfish: {self.dropped} characters printed between items dropped]\n"
            self._sink(token, "stderr", note)
        self._held.clear()
        self.held_chars = self.dropped = 0

    def hold(self) -> None:
        """No item is open: hold what comes."""
        self.token = None


@dataclass(slots=True)
class _Item:
    a: Assignment
    done: asyncio.Future[Report]
    handed: bool = False
    partial: dict[str, Any] = field(default_factory=dict)  # updateresultpackage


class JobProcess:
    """The process of one instance: its open item, its waiting ``requestwork``."""

    def __init__(
        self, a: Assignment, jt: JobType, host: str, command: Command, secret: str, sink: Sink
    ) -> None:
        self.first = a  # (the job's fields: the same for each item of the instance)
        self.key: Key = (a.job, a.subid)
        self.jobtype = jt
        self.host = host
        self.command = command
        self.secret = secret
        self.label = f"{a.job}.{a.subid} (job type {jt.name}, between items)"
        self.item: _Item | None = None
        self.last_token = ""  # the token of the last item opened
        self.ended: str | None = None  # why the instance has no next item, once known
        self.jobstatus: str | None = None  # what reportjob said
        self.retired = False  # takes no more items (told there are none, or replaced)
        self._waiter: asyncio.Future[dict[str, Any]] | None = None
        self.attempt: Attempt | None = None
        self.exit: asyncio.Task[Report] | None = None  # ends with the process: its outcome
        self.output = Output(sink, a.token)

    def attach(self, attempt: Attempt, exit_task: asyncio.Task[Report]) -> None:
        """The process has started: the runner's record of it, and its watcher."""
        self.attempt = attempt
        self.exit = exit_task

    # ------------------------------------------------------------------ the worker's side

    def takes_items(self) -> bool:
        """It may be handed the instance's next item: it runs, is not being killed, has no
        open item, and has not been told that there are no more."""
        attempt = self.attempt
        return (attempt is not None and attempt.cancelled is None and not self.retired
                and self._closed())  # fmt: skip

    def retire(self) -> None:
        """It gets no more items: its next ``requestwork`` answers ``pending``."""
        self.retired = True
        if self.ended is None:
            self.ended = "pending"
        self._answer()

    async def run_item(self, a: Assignment) -> Report:
        """Hand item ``a`` to the process; its report, at ``reportwork`` or the process's end."""
        assert self.exit is not None
        item = self.item = _Item(a, asyncio.get_running_loop().create_future())
        self.ended = None
        self.last_token = a.token
        self.output.to(a.token)
        self._answer()
        try:
            await asyncio.wait({item.done, self.exit}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.item = None
        if item.done.done():
            return item.done.result()
        item.done.cancel()
        return self._died(item, self.exit.result())

    def _died(self, item: _Item, end: Report) -> Report:
        """The report of ``item`` when the process ended (``end``) before reporting it."""
        report = end.model_copy(update={"token": item.a.token,
                                        "result": {**item.partial, **end.result}})  # fmt: skip
        cancelled = self.attempt is not None and self.attempt.cancelled is not None
        if cancelled or (item.a.work is None and end.status == "complete"):
            return report  # (an instance without agenda ends with its process, as a command)
        error = end.error or "exited with 0"
        report.status = "failed"
        report.error = f"the job type's process ended before reporting the item: {error}"
        return report

    def _end(self, item: _Item, report: Report) -> None:
        """The process has reported ``item``'s end: what it printed so far is the item's, what
        it prints from now on (it hears the answer after this) the next item's."""
        if self.attempt is not None:
            self.attempt.child.drain()
        self.output.hold()
        item.done.set_result(report)

    def _closed(self) -> bool:
        """No item is open (none, or the open one has been reported: the runner has not
        taken its report yet)."""
        return self.item is None or self.item.done.done()

    def no_more(self, status: str) -> None:
        """The instance gets no next item, because ``status``."""
        if self._closed():
            self.ended = status
            self._answer()

    def gone(self) -> None:
        """The process has ended (a request of it still waiting gets ``pending``)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(no_work(self.first, "pending", self.host))

    def _answer(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        work = self._next_work()
        if work is not None:
            self._waiter = None
            waiter.set_result(work)

    def _next_work(self) -> dict[str, Any] | None:
        item = self.item
        if item is not None and not item.handed:
            item.handed = True
            return work_of(item.a, self.host)
        if self._closed() and self.ended is not None:
            self.retired = True  # (it is expected to end now)
            return no_work(self.first, self.ended, self.host)
        return None

    # ------------------------------------------------------------------ the process's side

    async def handle(self, op: str, args: Mapping[str, Any]) -> Any:
        """One request of the process; RequestError if it is refused."""
        handler = self._handlers.get(op)
        if handler is None:
            raise RequestError(f"unknown operation {op!r}")
        return await handler(self, args)

    async def _jobobj(self, args: Mapping[str, Any]) -> Any:
        return job_of(self.first, self.jobtype, self.host)

    async def _requestwork(self, args: Mapping[str, Any]) -> Any:
        item = self.item
        if item is not None and item.handed and not item.done.done():
            raise RequestError(
                f"item {item.a.work!r} is still open: report it with qb.reportwork() first"
            )
        if self._waiter is not None and not self._waiter.done():
            raise RequestError("another qb.requestwork() of this process is waiting")
        work = self._next_work()
        if work is not None:
            return work
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    def _open(self, func: str) -> _Item:
        item = self.item
        if item is None or not item.handed or item.done.done():
            raise RequestError(f"qb.{func}(): no work item is open (call qb.requestwork())")
        return item

    async def _reportwork(self, args: Mapping[str, Any]) -> Any:
        item = self._open("reportwork")
        status = args.get("status")
        if status not in WORK_STATUSES:
            raise RequestError(f"qb.reportwork(): status must be 'complete', 'failed' or "
                               f"'running', got {status!r}")  # fmt: skip
        name = args.get("name")
        if name not in (None, "", item.a.work or ""):
            raise RequestError(f"qb.reportwork(): the open item is {item.a.work!r}, not {name!r}")
        result = args.get("resultpackage") or {}
        if not isinstance(result, dict):
            raise RequestError("qb.reportwork(): resultpackage must be a dict")
        if status == "running":  # (Qube's way to update the result package of a running item)
            item.partial.update(result)
            return None
        error = None
        if status == "failed":
            error = str(args.get("error") or "the job type reported the item failed")
        report = Report(token=item.a.token, status=status, result={**item.partial, **result},
                        error=error)  # fmt: skip
        self._end(item, report)
        return None

    async def _reportjob(self, args: Mapping[str, Any]) -> Any:
        status = str(args.get("status") or "")
        self.jobstatus = status
        item = self.item
        if item is not None and item.a.work is None and not item.done.done():
            # an instance without agenda: this is its end
            ok = status == "complete"
            error = None if ok else f"the job type reported the job {status or 'failed'}"
            self._end(item, Report(token=item.a.token, status="complete" if ok else "failed",
                                   result=dict(item.partial), error=error))  # fmt: skip
        return None

    async def _updateresultpackage(self, args: Mapping[str, Any]) -> Any:
        item = self._open("updateresultpackage")
        result = args.get("resultpackage")
        if not isinstance(result, dict):
            raise RequestError("qb.updateresultpackage(): resultpackage must be a dict")
        item.partial.update(result)
        return None

    _handlers: Mapping[str, Callable[[JobProcess, Mapping[str, Any]], Awaitable[Any]]] = {
        "jobobj": _jobobj,
        "requestwork": _requestwork,
        "reportwork": _reportwork,
        "reportjob": _reportjob,
        "updateresultpackage": _updateresultpackage,
    }


class JobProcs:
    """The job types of a worker, their live processes, and the channel they talk through."""

    def __init__(self, jobtypes: Mapping[str, JobType], host: str, sink: Sink) -> None:
        self.jobtypes = dict(jobtypes)
        self.host = host
        self._sink = sink
        self._by_key: dict[Key, JobProcess] = {}
        self._by_secret: dict[str, JobProcess] = {}
        self.channel = Channel(self._request)

    @property
    def live(self) -> bool:
        """Some job type's process runs."""
        return bool(self._by_key)

    def get(self, a: Assignment) -> JobProcess | None:
        """The live process of ``a``'s instance, if any."""
        return self._by_key.get((a.job, a.subid))

    async def new(self, a: Assignment, jt: JobType, base_env: Mapping[str, str]) -> JobProcess:
        """A process record for ``a``'s instance (the caller starts the process)."""
        path = await self.channel.listen()
        secret = secrets.token_urlsafe(24)
        command = process_command(a, jt, base_env, path, secret)
        proc = JobProcess(a, jt, self.host, command, secret, self._sink)
        self._by_key[proc.key] = proc
        self._by_secret[secret] = proc
        return proc

    def retire(self, proc: JobProcess) -> None:
        """``proc`` gets no more items (the next item of its instance starts another)."""
        proc.retire()
        if self._by_key.get(proc.key) is proc:
            del self._by_key[proc.key]

    def gone(self, proc: JobProcess) -> None:
        """``proc``'s process has ended (or never started)."""
        proc.gone()
        if self._by_key.get(proc.key) is proc:
            del self._by_key[proc.key]
        self._by_secret.pop(proc.secret, None)

    def reported(self, tokens: Collection[str], going: Collection[Key],
                 ended: Mapping[str, str]) -> None:  # fmt: skip
        """The supervisor acknowledged the reports of ``tokens``; the instances of ``going``
        get a next item. The others get none: their waiting ``requestwork`` answers with
        ``ended`` (the supervisor's reason, ``complete`` when it gives none)."""
        for proc in list(self._by_key.values()):
            if proc.last_token in tokens and proc.key not in going:
                status = ended.get(proc.last_token, "complete")
                status = status if status in ENDED else "complete"
                logger.debug(
                    "instance %s.%s gets no next item here (%s)",
                    *proc.key,
                    status,
                    extra={"action": "jobtype_no_more", "job": proc.key[0],
                           "instance": proc.key[1]},
                )  # fmt: skip
                proc.no_more(status)

    def kill_all(self) -> None:
        """SIGKILL every job type process now (retired ones too)."""
        for proc in self._by_secret.values():
            if proc.attempt is not None:
                proc.attempt.child.signal_group(signal.SIGKILL)

    async def aclose(self, grace: float) -> None:
        """Tell each process its instance gets no more (``pending``), give them ``grace``
        seconds to end, kill the rest; then close the channel."""
        procs = list(self._by_secret.values())
        for proc in procs:
            proc.no_more("pending")
        exits = [p.exit for p in procs if p.exit is not None]
        if exits:
            _, late = await asyncio.wait(exits, timeout=grace)
            if late:
                self.kill_all()
                await asyncio.wait(late)
        self.channel.close()

    async def _request(self, secret: str, op: str, args: Mapping[str, Any]) -> Any:
        """A request of the process whose secret is ``secret``."""
        proc = self._by_secret.get(secret)
        if proc is None:
            raise RequestError("this process is not one the worker started for a job type "
                               "(or its instance has ended)")  # fmt: skip
        return await proc.handle(op, args)
