"""Qube!'s back-end ``qb`` functions: what a job type's program calls on the worker.

A job type (docs/jobtypes.md) runs as one process per instance, started by a triggerfish worker
with ``--jobtypes``. It asks its worker for the job and for work, and reports each item::

    import triggerfish.qb as qb          # was: import qb

    job = qb.jobobj()
    while True:
        work = qb.requestwork()
        if work["status"] in ("complete", "pending", "blocked"):
            qb.reportjob(work["status"])
            break
        work["resultpackage"] = {"frame": work["name"]}
        work["status"] = "complete"
        qb.reportwork(work)

They talk to the worker that started the process, over its private channel
(``TRIGGERFISH_JOBTYPE_SOCKET`` and ``TRIGGERFISH_JOBTYPE_SECRET``, see
:mod:`triggerfish.worker.jobchannel`), never to the supervisor: the worker sends the item's end
(its status and ``resultpackage``) in its report, as it does a command's. Elsewhere they raise
:class:`~triggerfish.qb.NoJobContext`. ``qb.workid()`` names the item ``requestwork`` handed
out last (this module sets ``TRIGGERFISH_WORK`` for it, which commands the program starts
inherit).

The functions may be called from several threads (one request at a time goes to the worker) and
after a ``fork`` (the child opens a connection of its own).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from triggerfish.errors import TriggerfishError

if TYPE_CHECKING:
    from triggerfish.qb import Job, Work

ENV_SOCKET = "TRIGGERFISH_JOBTYPE_SOCKET"  # (the names of worker.jobchannel, not imported: the
ENV_SECRET = "TRIGGERFISH_JOBTYPE_SECRET"  # worker's modules stay out of a job type's process)
WORK_STATUSES = ("complete", "failed", "running")


class WorkerRefused(TriggerfishError, RuntimeError):
    """The worker refused a request of this job type's process (the message says why)."""

    code = "refused"


class _Channel:
    """The connection of this process to its worker: one JSON line each way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._pid = -1

    def _connect(self, func: str) -> None:
        path, secret = os.environ.get(ENV_SOCKET), os.environ.get(ENV_SECRET)
        if not path or not secret:
            raise _no_job(
                f"qb.{func}(): this process was not started by a triggerfish worker for a job "
                f"type ({ENV_SOCKET} is not set); the back-end functions work only in a job "
                "type's program (see docs/jobtypes.md)"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise _no_job(
                f"qb.{func}(): cannot reach the worker that started this process at {path} "
                f"({exc.strerror or exc}); has it stopped?"
            ) from None
        self._sock, self._file, self._pid = sock, sock.makefile("rb"), os.getpid()

    def call(self, func: str, op: str, args: Mapping[str, Any] | None = None) -> Any:
        request = {"secret": os.environ.get(ENV_SECRET, ""), "op": op, "args": dict(args or {})}
        try:
            line = json.dumps(request).encode() + b"\n"
        except (TypeError, ValueError) as exc:
            raise _argument(f"qb.{func}(): not JSON: {exc}") from None
        with self._lock:
            if self._sock is None or self._pid != os.getpid():
                self._connect(func)
            assert self._sock is not None
            try:
                self._sock.sendall(line)
                answer = self._file.readline()
            except OSError:
                answer = b""
            if not answer:
                self._close()
                raise WorkerRefused(f"qb.{func}(): the worker closed the connection (stopping?)")
        reply = json.loads(answer)
        if not reply.get("ok"):
            raise WorkerRefused(str(reply.get("error") or "refused"))
        return reply.get("value")

    def _close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
        self._sock = self._file = None


_channel = _Channel()


def _no_job(message: str) -> TriggerfishError:
    from triggerfish.qb import NoJobContext  # (qb imports this module at its end)

    return NoJobContext(message)


def _argument(message: str) -> TriggerfishError:
    from triggerfish.qb import ArgumentError

    return ArgumentError(message)


def jobobj() -> Job:
    """The job this process runs (Qube's ``qb.jobobj()``): ``id``, ``name``, ``prototype``,
    ``pgrp``, ``subid`` (this instance), ``host``, ``env``, ``cwd``, and ``package`` (the job's
    package over the defaults of the job type's ``job.conf``); ``jobtype`` describes the job
    type (its ``name``, ``source`` and the sections of its ``job.conf``)."""
    from triggerfish.qb import Job

    return Job._of(_channel.call("jobobj", "jobobj"))


def requestwork() -> Work:
    """The next work item of this instance (Qube's ``qb.requestwork()``): a Work dict with
    ``name``, ``package`` (the item's own), ``status`` ``"running"``, ``resultpackage``,
    ``id`` (``"12:5"``), ``pid`` (the job), ``subid`` and ``host``.

    When the instance gets no more items the Work has no name and ``status`` says why:
    ``"complete"`` (the job has no more work for it), ``"pending"`` (preempted, or the worker
    stops) or ``"blocked"``; the program then calls :func:`reportjob` and exits. It waits (it
    never answers ``"waiting"``) until the worker knows which. Call :func:`reportwork` before
    asking for the next item."""
    from triggerfish.qb import Work

    work = Work(_channel.call("requestwork", "requestwork"))
    if work.get("status") == "running" and work.get("name"):
        os.environ["TRIGGERFISH_WORK"] = str(work["name"])  # (qb.workid(), and child commands)
    else:
        os.environ.pop("TRIGGERFISH_WORK", None)
    return work


def reportwork(work: Mapping[str, Any]) -> None:
    """Report the end of the item :func:`requestwork` handed out (Qube's ``qb.reportwork``):
    ``work["status"]`` ``"complete"`` or ``"failed"``, ``work["resultpackage"]`` a dict of JSON
    values (stored on the item as sent, over what :func:`updateresultpackage` sent), and for a
    failure an optional ``work["error"]`` text. The worker reports it to the supervisor.

    With ``work["status"]`` ``"running"`` (as Qube's own back ends do mid-item) the item goes
    on: its ``resultpackage`` is kept as :func:`updateresultpackage` keeps it."""
    if not isinstance(work, Mapping):
        raise _argument(f"qb.reportwork(): expected a Work dict, got {type(work).__name__}")
    status = work.get("status")
    if status not in WORK_STATUSES:
        raise _argument(
            "qb.reportwork(): work['status'] must be 'complete', 'failed' or 'running', "
            f"got {status!r}"
        )
    result = work.get("resultpackage")
    if result is not None and not isinstance(result, Mapping):
        raise _argument("qb.reportwork(): work['resultpackage'] must be a dict")
    args = {"name": work.get("name"), "status": status, "resultpackage": dict(result or {})}
    if work.get("error"):
        args["error"] = str(work["error"])
    _channel.call("reportwork", "reportwork", args)


def reportjob(status: str | Mapping[str, Any]) -> None:
    """Say how this instance ends (Qube's ``qb.reportjob``), e.g. the status
    :func:`requestwork` gave when there was no more work; then exit. ``status`` may also be
    the job dict, as in Qube (its ``"status"``). For a job without agenda it is the
    instance's end: ``"complete"``, or any other status for a failure."""
    if isinstance(status, Mapping):
        status = status.get("status", "")
    if not isinstance(status, str):
        raise _argument(f"qb.reportjob(): status must be a string, got {status!r}")
    _channel.call("reportjob", "reportjob", {"status": status})


def updateresultpackage(resultpackage: Mapping[str, Any]) -> None:
    """Store part of the result of the open item now (Qube's ``qb.updateresultpackage``): the
    worker keeps it and sends it with the item's end, under the ``resultpackage`` of
    :func:`reportwork`; an item whose process dies before reporting keeps it too. Keys given
    again replace the earlier values."""
    if not isinstance(resultpackage, Mapping):
        raise _argument("qb.updateresultpackage(): resultpackage must be a dict")
    _channel.call(
        "updateresultpackage", "updateresultpackage", {"resultpackage": dict(resultpackage)}
    )
