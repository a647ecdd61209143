"""Qube!'s ``qb`` Python module on triggerfish: submission and control scripts move over by
changing one import line::

    import triggerfish.qb as qb          # was: import qb

    jobs = qb.submit([jobA, jobB, jobC])
    job = qb.jobinfo("-id", jobs[0]["id"])[0]
    qb.unblockwork("%s:%s" % (job["id"], "5"))

The functions keep Qube's names and argument forms (``12``, ``"12"``, ``"12.0"``,
``"12:NAME"``, lists of those, ``jobinfo("-id", n)``, ``modify({"priority": 5}, 12)``) and talk
to the supervisor named by ``TRIGGERFISH_URL`` (or :func:`set_url`) through one lazily created
:class:`~triggerfish.client.Client`. Inside a job's command, :func:`jobid`, :func:`subid` and
:func:`workid` read ``QBJOBID``, ``QBSUBID`` and ``TRIGGERFISH_WORK`` from the environment.

Every error is a :class:`~triggerfish.errors.TriggerfishError`: bad arguments raise
:class:`ArgumentError` (also a ``ValueError``) before anything is sent; refusals of the
supervisor raise :class:`NotFoundError`, :class:`ConflictError` or :class:`InvalidError` with
the supervisor's own message; Qube functions this version cannot honour raise
:class:`NotSupported`. As in Qube, a control verb applied to something already in the wanted
state (unblocking a running job) is not an error: that target is left out of the returned list
(``strict=True`` raises :class:`ConflictError` instead).

See docs/qube.md for the full mapping and the differences.
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Final, NoReturn

from triggerfish.client.client import Client
from triggerfish.client.errors import CannotFinish
from triggerfish.client.targets import parse_target
from triggerfish.errors import (
    ClientError,
    Conflict,
    NotFound,
    TriggerfishError,
    ValidationError,
)
from triggerfish.model.agenda import parse_range, range_items
from triggerfish.settings import DEFAULT_PORT, supervisor_url

__all__ = [
    "QB_TIME_EPOCH_OFFSET",
    "ArgumentError",
    "Callback",
    "CannotFinish",
    "ConflictError",
    "Host",
    "InvalidError",
    "Job",
    "NoJobContext",
    "NotFoundError",
    "NotSupported",
    "Subjob",
    "TriggerWarning",
    "Work",
    "binarySort",
    "bindings",
    "block",
    "blockwork",
    "bottom",
    "client",
    "complete",
    "completework",
    "event",
    "genchunks",
    "genframes",
    "genpartitions",
    "getsupervisor",
    "hist",
    "hostinfo",
    "interrupt",
    "jobid",
    "jobinfo",
    "kill",
    "killwork",
    "migrate",
    "modify",
    "pgrpid",
    "preempt",
    "rangechunk",
    "rangepartition",
    "rangesplit",
    "remove",
    "requeue",
    "requeuework",
    "resume",
    "retire",
    "retirework",
    "retry",
    "retrywork",
    "set_client",
    "set_url",
    "setsupervisor",
    "shove",
    "subid",
    "submit",
    "suspend",
    "top",
    "unblock",
    "unblockwork",
    "wait",
    "waitfor",
    "workblock",
    "workcomplete",
    "workid",
    "workkill",
    "workrequeue",
    "workretry",
    "workunblock",
]

#: Qube time is seconds since 2000-01-01 05:00 UTC: ``unix = qube + QB_TIME_EPOCH_OFFSET``.
QB_TIME_EPOCH_OFFSET: Final = 946702800

JSON = dict[str, Any]
JobRef = int | str | Mapping[str, Any]
Targets = JobRef | Iterable[JobRef]


# ---------------------------------------------------------------------------------- errors


class ArgumentError(ValidationError, ValueError):
    """An argument of a ``qb`` function is malformed; nothing was sent to the supervisor."""


class NotSupported(TriggerfishError, NotImplementedError):
    """A Qube function or option that this version of triggerfish does not offer."""

    code = "not_supported"
    http_status = 501


class NoJobContext(TriggerfishError, RuntimeError):
    """:func:`jobid` and friends called outside a command run by a triggerfish worker."""

    code = "no_job"


class NotFoundError(ClientError, NotFound):
    """The supervisor has no such job, instance or work item (HTTP 404)."""

    code = "not_found"


class ConflictError(ClientError, Conflict):
    """The supervisor refused a verb that makes no sense in the target's state (HTTP 409)."""

    code = "conflict"


class InvalidError(ClientError, ValidationError, ValueError):
    """The supervisor rejected the request's content (HTTP 400/422); nothing was changed."""

    code = "invalid"


class TriggerWarning(UserWarning):
    """A warning of the supervisor about a submission (e.g. a trigger naming an unknown label)."""


_BY_STATUS: dict[int, type[ClientError]] = {
    400: InvalidError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidError,
}


def _server_error(exc: ClientError) -> ClientError:
    cls = _BY_STATUS.get(exc.status or 0)
    if cls is None or isinstance(exc, cls):
        return exc
    details = {k: v for k, v in exc.details.items() if k != "field"}
    return cls(exc.message, status=exc.status, field=exc.field, **details)


@contextmanager
def _server() -> Iterator[None]:
    """Turn the client's generic ClientError into the qb subclass of its HTTP status."""
    try:
        yield
    except ClientError as exc:
        new = _server_error(exc)
        if new is exc:
            raise
        raise new from None


# ---------------------------------------------------------------------------------- the client

_lock = threading.Lock()
_client: Client | None = None
_own_client = True  # False when set_client() gave us the caller's client
_url: str | None = None
_token: str | None = None


def set_url(url: str | None, token: str | None = None) -> None:
    """Talk to the supervisor at ``url`` (None: ``TRIGGERFISH_URL`` or the local default).

    ``token`` None: ``TRIGGERFISH_TOKEN`` from the environment, else the local admin token in
    the data dir (``TRIGGERFISH_DATA_DIR``, else the per-user one).
    """
    global _client, _url, _token, _own_client
    with _lock:
        if _client is not None and _own_client:
            _client.close()
        _client, _own_client = None, True
        _url = url.rstrip("/") if url else None
        _token = token


def set_client(new: Client | None) -> None:
    """Use this :class:`Client` for every ``qb`` call (None: go back to :func:`set_url`'s)."""
    global _client, _own_client
    with _lock:
        if _client is not None and _own_client:
            _client.close()
        _client, _own_client = new, new is None


def client() -> Client:
    """The module's :class:`Client`, created on first use (and again when the URL changed)."""
    global _client
    with _lock:
        if _client is not None and not _own_client:
            return _client
        want = supervisor_url(_url)
        if _client is None or _client.url != want:
            if _client is not None:
                _client.close()
            _client = Client(want, token=_token)
        return _client


def setsupervisor(supervisor: str) -> None:
    """Qube's ``setsupervisor``: a host (port 8765), ``host:port`` or URL; ``""`` resets."""
    if not isinstance(supervisor, str):
        raise ArgumentError("setsupervisor: expected a host name or URL", field="supervisor")
    text = supervisor.strip()
    if not text:
        set_url(None)
    elif "://" in text:
        set_url(text)
    elif re.search(r":\d+$", text):
        set_url(f"http://{text}")
    else:
        set_url(f"http://{text}:{DEFAULT_PORT}")


def getsupervisor() -> str:
    """The URL of the supervisor the module talks to."""
    return client().url


# ---------------------------------------------------------------------------------- objects


class Job(dict[str, Any]):
    """A job dict (Qube's ``qb.Job``): ``qb.Job(name="x", package={"cmdline": "true"})``.

    As in Qube, a new Job has a ``name`` and a ``package`` dict to fill in.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        name: str = "",
        prototype: str = "",
        package: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data or {})
        if name:
            self["name"] = name
        if prototype:
            self["prototype"] = prototype
        if package:
            self["package"] = dict(package)
        self.setdefault("name", "")
        self.setdefault("package", {})
        agenda = self.get("agenda")
        if isinstance(agenda, list):
            self["agenda"] = [Work(w) if isinstance(w, Mapping) else w for w in agenda]

    @classmethod
    def _of(cls, data: Mapping[str, Any]) -> Job:
        """A Job holding exactly what the supervisor answered (no defaults added)."""
        job = cls.__new__(cls)
        dict.update(job, data)
        return job


class Work(dict[str, Any]):
    """An agenda item dict (Qube's ``qb.Work``): ``{"name": "5", "status": "blocked"}``."""


class Subjob(dict[str, Any]):
    """An instance dict (Qube's ``qb.Subjob``)."""


class Callback(dict[str, Any]):
    """A callback dict (Qube's ``qb.Callback``): ``{"triggers", "language", "code"}``."""


class Host(dict[str, Any]):
    """A worker host dict (Qube's ``qb.Host``)."""


def _qube_host(h: Mapping[str, Any]) -> Host:
    """A host as ``GET /hosts`` gives it, with Qube's lock fields on top: ``locks``
    (``"host.processors=all"`` when locked: Qube locks a host by locking all its processors;
    ``""`` otherwise) and ``locked`` (True/False; ``locked_by``, ``locked_at`` say who and
    when). ``state`` stays ``active`` / ``down``: a lock is not a state, as in Qube."""
    host = Host(h)
    host["locked"] = bool(h.get("locked"))
    host["locks"] = "host.processors=all" if host["locked"] else ""
    return host


# ---------------------------------------------------------------------------------- frame ranges

_SEQUENCE = re.compile(r"^\s*-?\d+(?:\s*-\s*-?\d+(?:\s*[xX]\s*\d+)?)?\s*$")


def _range_tokens(where: str, ranges: Sequence[str]) -> list[str]:
    tokens: list[str] = []
    for r in ranges:
        if not isinstance(r, str):
            raise ArgumentError(f"{where}: expected a frame range string such as '1-10', got "
                                f"{r!r}", field="range")  # fmt: skip
        tokens += [t.strip() for t in r.split(",") if t.strip()]
    if not tokens:
        raise ArgumentError(f"{where}: empty frame range", field="range")
    return tokens


def _frames(where: str, token: str) -> list[str]:
    try:
        return [str(n) for part in parse_range(token) for n in part.numbers()]
    except ValidationError as exc:
        raise ArgumentError(f"{where}: {exc.message}", field="range") from None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def binarySort(origList: Sequence[Any]) -> list[Any]:
    """Qube's order for previews: first, last, then the medians of the halves, recursively."""
    items = list(origList)
    if len(items) < 2:
        return items
    out = [items[0], items[-1]]
    level = [items[1:-1]]
    while level:
        nxt: list[list[Any]] = []
        for part in level:
            if part:
                mid = (len(part) - 1) // 2
                out.append(part[mid])
                nxt += [part[:mid], part[mid + 1 :]]
        level = nxt
    return out


_binary_sort = binarySort  # keyword arguments named binarySort (Qube's) shadow the function


def rangesplit(
    range: str, *extraRanges: str, binarySort: bool = False, removeDuplicates: bool = True
) -> list[str]:
    """``"1-5x2,8"`` -> ``["1", "3", "5", "8"]``; items that are not frames are kept as-is."""
    out: list[str] = []
    for tok in _range_tokens("rangesplit", [range, *extraRanges]):
        out += _frames("rangesplit", tok) if _SEQUENCE.match(tok) else [tok]
    if removeDuplicates:
        out = _unique(out)
    return _binary_sort(out) if binarySort else out


def rangechunk(
    chunksize: int, range: str, *extraRanges: str, binarySort: bool = False
) -> list[str]:
    """``rangechunk(5, "1-12")`` -> ``["1-5", "6-10", "11-12"]`` (the agenda names of chunks)."""
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ArgumentError("rangechunk: chunksize must be a whole number >= 1", field="chunksize")
    out: list[str] = []
    for tok in _range_tokens("rangechunk", [range, *extraRanges]):
        if not _SEQUENCE.match(tok):
            out.append(tok)
            continue
        try:
            out += range_items(tok, chunksize)
        except ValidationError as exc:
            raise ArgumentError(f"rangechunk: {exc.message}", field="range") from None
    out = _unique(out)
    return _binary_sort(out) if binarySort else out


def rangepartition(
    numPartitions: int, range: str, *extraRanges: str, binarySort: bool = False
) -> list[str]:
    """Split a range into ``numPartitions`` chunks of (nearly) equal size."""
    frames = rangesplit(range, *extraRanges)
    if isinstance(numPartitions, bool) or not isinstance(numPartitions, int):
        raise ArgumentError("rangepartition: numPartitions must be a whole number",
                            field="numPartitions")  # fmt: skip
    if numPartitions < 1:
        out = frames
    else:
        out = rangechunk(max(1, math.ceil(len(frames) / numPartitions)), range, *extraRanges)
    return _binary_sort(out) if binarySort else out


def genframes(range: str, *extraRanges: str, **kwargs: bool) -> list[Work]:
    """Qube's ``genframes``: an agenda, one item per frame: ``[{"name": "1"}, …]``."""
    return [Work(name=n) for n in rangesplit(range, *extraRanges, **kwargs)]


def genchunks(chunksize: int, range: str, *extraRanges: str, **kwargs: bool) -> list[Work]:
    """An agenda of chunks: ``genchunks(10, "1-100")`` -> items ``1-10``, ``11-20``, …"""
    return [Work(name=n) for n in rangechunk(chunksize, range, *extraRanges, **kwargs)]


def genpartitions(numPartitions: int, range: str, *extraRanges: str, **kwargs: bool) -> list[Work]:
    """An agenda of ``numPartitions`` chunks."""
    return [Work(name=n) for n in rangepartition(numPartitions, range, *extraRanges, **kwargs)]


# ---------------------------------------------------------------------------------- environment


def _env(names: Sequence[str]) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _env_int(func: str, names: Sequence[str]) -> int:
    value = _env(names)
    if value is None:
        raise NoJobContext(
            f"qb.{func}(): {names[0]} is not set; this process is not a command run by a "
            "triggerfish worker (workers set QBJOBID, QBSUBID, QBPGRPID and TRIGGERFISH_WORK)"
        )
    try:
        return int(value)
    except ValueError:
        raise NoJobContext(f"qb.{func}(): {names[0]}={value!r} is not a number") from None


def jobid() -> int:
    """The id of the job whose command this process is (``QBJOBID``)."""
    return _env_int("jobid", ("QBJOBID", "QB_JOBID"))


def subid() -> int:
    """The instance (subjob) id of this process (``QBSUBID``)."""
    return _env_int("subid", ("QBSUBID", "QB_SUBID"))


def pgrpid() -> int:
    """The pgrp of this process's job (``QBPGRPID``)."""
    return _env_int("pgrpid", ("QBPGRPID", "QB_PGRPID"))


def workid() -> str:
    """The name of the agenda item this process runs (``TRIGGERFISH_WORK``).

    Without it, the name is rebuilt from ``QB_FRAME_START``/``QB_FRAME_END`` (``"5"`` or
    ``"1-10"``, as range agendas name their items) or ``QB_FRAME_NUMBER``.
    """
    name = _env(("TRIGGERFISH_WORK", "QB_WORK_NAME"))
    if name is not None:
        return name
    start, end = _env(("QB_FRAME_START",)), _env(("QB_FRAME_END",))
    try:
        if start is not None and end is not None:
            a, b = int(start), int(end)
            return str(a) if a == b else f"{a}-{b}"
        number = _env(("QB_FRAME_NUMBER",))
        if number is not None:
            return str(int(number))
    except ValueError:
        pass
    raise NoJobContext(
        "qb.workid(): TRIGGERFISH_WORK is not set; this process is not running an agenda item "
        "of a triggerfish job"
    )


def _env_json(func: str, name: str) -> JSON:
    raw = os.environ.get(name)
    if raw is None:
        raise NoJobContext(f"qb.{func}(): {name} is not set; this process is not a callback run")
    try:
        value = json.loads(raw)
    except ValueError:
        raise NoJobContext(f"qb.{func}(): {name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise NoJobContext(f"qb.{func}(): {name} is not a JSON object")
    return value


def event() -> JSON:
    """In a python callback: the event that fired it (``seq``, ``name``, ``type``, ``job``,
    ``subid``, ``work``, ``host``, ``data``), from ``TRIGGERFISH_EVENT``."""
    return _env_json("event", "TRIGGERFISH_EVENT")


def bindings() -> JSON:
    """In a python callback: the values of the trigger's pattern variables (``{"f": "5"}``)."""
    return _env_json("bindings", "TRIGGERFISH_BINDINGS")


# ---------------------------------------------------------------------------------- targets


def _flatten(args: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, str | bytes | Mapping) or not isinstance(a, Iterable):
            out.append(a)
        else:
            out += _flatten(a)
    return out


def _parse(func: str, value: Any) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("target"), str):
        value = value["target"]  # an instance or item of jobinfo: "12.0", "12:5"
    elif isinstance(value, Mapping):
        if "id" not in value:
            raise ArgumentError(f"{func}: a job dict without 'id' ({_short(value)})",
                                field="targets")  # fmt: skip
        value = value["id"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ArgumentError(
            f"{func}: {value!r} is not a job id; expected 12, '12', '12.0' or '12:NAME'",
            field="targets",
        )
    try:
        return str(parse_target(value))
    except ValidationError as exc:
        raise ArgumentError(f"{func}: {exc.message}", field="targets") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _job_targets(func: str, args: Iterable[Any]) -> list[str]:
    items = _flatten(args)
    if not items:
        raise ArgumentError(f"{func}: give at least one job id", field="targets")
    return [_parse(func, x) for x in items]


def _work_targets(func: str, args: Iterable[Any]) -> list[str]:
    items = _flatten(args)
    if not items:
        raise ArgumentError(f"{func}: give at least one 'jobid:workname'", field="targets")
    out = []
    for x in items:
        if isinstance(x, Mapping) and "id" not in x and "name" in x:
            job = x.get("pid", x.get("job"))
            x = f"{job}:{x['name']}"
        text = _parse(func, x)
        if ":" not in text:
            raise ArgumentError(
                f"{func}: {x!r} names a job or instance; expected 'jobid:workname' such as '12:5'",
                field="targets",
            )
        out.append(text)
    return out


def _control(
    action: str, targets: list[str], fields: JSON | None = None, strict: bool = False
) -> list[JSON]:
    """One control request; under Qube's rules a target in the wrong state is left out."""
    c = client()
    try:
        return c.control(action, targets, fields)
    except ClientError as exc:
        if exc.status != 409 or strict:
            raise _server_error(exc) from None
    results: list[JSON] = []
    if len(targets) > 1:  # the request is all or nothing: redo it target by target
        for t in targets:
            try:
                results += c.control(action, [t], fields)
            except ClientError as exc:
                if exc.status != 409:
                    raise _server_error(exc) from None
    return results


def _job_ids(results: list[JSON]) -> list[int]:
    return list(dict.fromkeys(int(str(r["target"]).split(".")[0].split(":")[0])
                              for r in results))  # fmt: skip


# ---------------------------------------------------------------------------------- job verbs


def _verb(action: str, args: Iterable[Any], strict: bool) -> list[str]:
    return [r["target"] for r in _control(action, _job_targets(action, args), strict=strict)]


def kill(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Kill jobs (``12``), instances (``"12.0"``) or items (``"12:5"``); the targets killed."""
    return _verb("kill", [jobid, *extraJobids], strict)


def block(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Hold jobs (their running work goes back to pending) or instances; the targets blocked."""
    return _verb("block", [jobid, *extraJobids], strict)


def unblock(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Release blocked jobs or instances; the targets unblocked."""
    return _verb("unblock", [jobid, *extraJobids], strict)


def retry(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Failed and killed work back to pending (a complete job: all of it); the targets."""
    return _verb("retry", [jobid, *extraJobids], strict)


def preempt(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Send the running items of jobs (``12``), instances (``"12.0"``) or items (``"12:5"``)
    back to pending now, without counting a failed attempt (a ``preempt`` event each); the
    targets preempted."""
    return _verb("preempt", [jobid, *extraJobids], strict)


def requeue(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Like :func:`retry`, but the job is left blocked; the targets requeued."""
    return _verb("requeue", [jobid, *extraJobids], strict)


def remove(jobid: Targets, *extraJobids: Targets) -> list[int]:
    """Delete jobs (running work is stopped; their events stay); the ids removed."""
    targets = _job_targets("remove", [jobid, *extraJobids])
    with _server():
        return _job_ids(client().control("remove", targets))


def modify(*args: Any, **fields: Any) -> list[int]:
    """Change fields of jobs; the ids modified.

    Qube's form ``modify({"priority": 5}, 12, 13)`` or triggerfish's ``modify(12, priority=5)``
    (both may be mixed: keyword fields add to the dict's).
    """
    if not args:
        raise ArgumentError("modify: give the job id(s) and the fields to change", field="targets")
    first, rest = args[0], args[1:]
    if isinstance(first, Mapping) and "id" not in first:
        changes = {**first, **fields}
        if not rest:
            raise ArgumentError(
                "modify: Qube's form is modify({'priority': 5}, jobid, ...); give the job id(s) "
                "after the dict",
                field="targets",
            )
        targets = _job_targets("modify", rest)
    else:
        changes = dict(fields)
        targets = _job_targets("modify", args)
    if not changes:
        raise ArgumentError("modify: give at least one field to change, e.g. priority=5",
                            field="fields")  # fmt: skip
    if any(":" in t or "." in t for t in targets):
        raise ArgumentError("modify: only jobs can be modified, not instances or work items",
                            field="targets")  # fmt: skip
    with _server():
        return _job_ids(client().control("modify", targets, changes))


# ---------------------------------------------------------------------------------- work verbs


def _work(action: str, func: str, args: Iterable[Any], strict: bool) -> list[str]:
    return [r["target"] for r in _control(action, _work_targets(func, args), strict=strict)]


def killwork(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Kill agenda items ``"jobid:name"``; the items killed."""
    return _work("kill", "killwork", [workid, *extraWorkids], strict)


def blockwork(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Hold agenda items; the items blocked."""
    return _work("block", "blockwork", [workid, *extraWorkids], strict)


def unblockwork(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Release blocked agenda items; the items unblocked."""
    return _work("unblock", "unblockwork", [workid, *extraWorkids], strict)


def retrywork(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Ended agenda items back to pending; the items retried."""
    return _work("retry", "retrywork", [workid, *extraWorkids], strict)


def requeuework(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Ended agenda items back to blocked; the items requeued."""
    return _work("requeue", "requeuework", [workid, *extraWorkids], strict)


# Qube's older spellings (``workunblock`` is the one of callback code).
workunblock = unblockwork
workblock = blockwork
workkill = killwork
workretry = retrywork
workrequeue = requeuework


def _unsupported(name: str, hint: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotSupported(f"qb.{name}: {hint}")

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Not offered by this version of triggerfish: {hint}"
    return refuse


top = _unsupported("top", "reordering is not offered; use modify(jobid, priority=N)")
bottom = _unsupported("bottom", "reordering is not offered; use modify(jobid, priority=N)")
waitfor = _unsupported("waitfor", "Qube's post-callback waitfor is not offered; use "
                       "qb.wait(jobid, ..., timeout=SECONDS)")  # fmt: skip


# ---------------------------------------------------------------------------------- dispatch verbs
# (docs/dispatch-verbs.md): Qube's names and arguments, as kill and block take them


def suspend(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Stop the running commands of jobs, instances or items (SIGSTOP; slots kept, no timeout
    counted); the targets suspended."""
    return _verb("suspend", [jobid, *extraJobids], strict)


def resume(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Continue suspended jobs, instances or items (SIGCONT); the targets resumed."""
    return _verb("resume", [jobid, *extraJobids], strict)


def interrupt(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Running work back to pending at once, no failed attempt counted; the targets."""
    return _verb("interrupt", [jobid, *extraJobids], strict)


def migrate(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """As :func:`interrupt`, and that work's next attempt avoids its host; the targets."""
    return _verb("migrate", [jobid, *extraJobids], strict)


def retire(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Complete jobs with what is done: work not started is marked complete without running,
    running work finishes; the jobs retired."""
    return _verb("retire", [jobid, *extraJobids], strict)


def shove(jobid: Targets, *extraJobids: Targets, strict: bool = False) -> list[str]:
    """Dispatch pending jobs first at the next free slot, ahead of priority; the jobs."""
    return _verb("shove", [jobid, *extraJobids], strict)


def completework(workid: Targets, *extraWorkids: Targets, strict: bool = False) -> list[str]:
    """Mark agenda items ``"jobid:name"`` complete without running them (a running one is
    stopped first); dependencies on them fire as on any completion. The items completed."""
    return _work("complete", "completework", [workid, *extraWorkids], strict)


# Qube's aliases: ``complete`` is ``retire``; ``retirework`` / ``workcomplete`` complete items.
complete = retire
retirework = completework
workcomplete = completework

# ---------------------------------------------------------------------------------- submit


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in containers without a passwd entry
        return "unknown"


def _prepare(job: Mapping[str, Any], i: int) -> JSON:
    """A copy of one submitted job dict, adapted the way Qube's own ``qb.submit`` adapts it."""
    if not isinstance(job, Mapping):
        raise ArgumentError(f"submit: jobs[{i}] is {_short(job)}, not a job dict",
                            field=f"jobs[{i}]")  # fmt: skip
    out = dict(job)
    if out.get("prototype") == "":  # qb.Job() of Qube sets an empty prototype
        del out["prototype"]
    if isinstance(out.get("package"), Mapping):
        out["package"] = dict(out["package"])
    agenda = out.get("agenda")
    if isinstance(agenda, list | tuple):
        items: list[Any] = []
        for w in agenda:
            if isinstance(w, Mapping):
                w = dict(w)
                if isinstance(w.get("name"), int) and not isinstance(w["name"], bool):
                    w["name"] = str(w["name"])
            elif isinstance(w, int) and not isinstance(w, bool):
                w = str(w)
            items.append(w)
        out["agenda"] = items
        # Qube scripts keep package.range next to the agenda (for the GUI): the agenda rules.
        if isinstance(out.get("package"), dict):
            out["package"].pop("range", None)
    waitfor = out.pop("waitfor", None)
    if waitfor not in (None, "", [], ()):
        ids = _flatten([waitfor])
        for w in ids:
            if isinstance(w, bool) or not isinstance(w, int | str) or not str(w).strip():
                raise ArgumentError(f"submit: jobs[{i}].waitfor: {w!r} is not a job id",
                                    field=f"jobs[{i}].waitfor")  # fmt: skip
        dep = str(out.get("dependency") or "").strip()
        links = [f"link-done-job-{str(w).strip()}" for w in ids]
        out["dependency"] = ",".join([dep, *links] if dep else links)
    out.setdefault("user", _login())
    return out


def submit(*jobs: Mapping[str, Any] | Iterable[Mapping[str, Any]], **options: Any) -> list[Job]:
    """Submit job dicts (or lists of them) in one pgrp; one dict per job: id, label, pgrp, status.

    As Qube's ``qb.submit`` does: ``waitfor`` becomes a ``link-done-job-N`` dependency, the
    agenda wins over ``package.range``, ``user`` defaults to the login name.
    ``deferTableCreation`` is accepted and ignored. Warnings of the supervisor (a trigger
    naming a label no job of the pgrp has) are issued as :class:`TriggerWarning`.
    """
    options.pop("deferTableCreation", None)
    if options:
        raise ArgumentError(f"submit: unknown option(s) {', '.join(sorted(options))}",
                            field="options")  # fmt: skip
    flat: list[Any] = []
    for j in jobs:
        if isinstance(j, Mapping):
            flat.append(j)
        elif isinstance(j, list | tuple):
            flat += list(j)
        else:
            raise ArgumentError(f"submit: {_short(j)} is not a job dict or a list of them",
                                field="jobs")  # fmt: skip
    if not flat:
        raise ArgumentError("submit: give at least one job dict", field="jobs")
    body = [_prepare(j, i) for i, j in enumerate(flat)]
    c = client()
    with _server():
        answer = c.submit(body)
    for w in c.last_warnings:
        warnings.warn(w, TriggerWarning, stacklevel=2)
    return [Job._of(j) for j in answer]


def wait(jobid: Targets, *extraJobids: Targets, timeout: float | None = None) -> dict[int, str]:
    """Extension: block until the jobs end; ``{id: status}``.

    Rides through a restart of the supervisor (retrying, said once on stderr). Raises
    :class:`CannotFinish` naming the jobs that can no longer finish by themselves and why
    (blocked behind a failed upstream, or behind a job that does not exist), ``WaitTimeout``
    after ``timeout`` seconds."""
    targets = _job_targets("wait", [jobid, *extraJobids])
    ids = list(dict.fromkeys(parse_target(t).job for t in targets))
    with _server():
        return client().wait(ids, timeout=timeout)


# ---------------------------------------------------------------------------------- jobinfo

_INT_FILTERS = ("id", "pgrp", "pid", "priority", "cpus", "todo")
_STR_FILTERS = ("status", "label", "user", "name", "prototype")
_SERVER_FILTERS = ("status", "pgrp", "label", "user", "name")
_FLAGS = ("agenda", "subjobs", "callbacks")
_STATUS_WORDS = {
    "done": ("complete", "failed", "killed"),
    "active": ("pending", "running", "blocked", "waiting"),
}
PAGE = 10_000


def _values(key: str, value: Any) -> list[Any]:
    items = _flatten([value])
    out: list[Any] = []
    for v in items:
        if isinstance(v, str):
            out += [p.strip() for p in v.split(",") if p.strip()]
        else:
            out.append(v)
    if not out:
        raise ArgumentError(f"jobinfo: filter {key!r} has no value", field=key)
    if key in _INT_FILTERS:
        ints = []
        for v in out:
            if isinstance(v, bool) or not isinstance(v, int | str) or not str(v).isdigit():
                raise ArgumentError(f"jobinfo: {key}={v!r} is not a whole number", field=key)
            ints.append(int(v))
        return ints
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise ArgumentError(f"jobinfo: {key}={bad[0]!r} is not a string", field=key)
    if key == "status":
        return [s for v in out for s in _STATUS_WORDS.get(v.lower(), (v.lower(),))]
    return out


def _cli_args(args: Sequence[Any]) -> tuple[dict[str, Any], set[str]]:
    """``("-id", 12, "-agenda")`` -> filters and flags."""
    filters: dict[str, Any] = {}
    flags: set[str] = set()
    i = 0
    while i < len(args):
        opt = args[i]
        if not isinstance(opt, str) or not opt.startswith("-"):
            raise ArgumentError(
                f"jobinfo: expected an option such as '-id' at position {i}, got {_short(opt)}",
                field="args",
            )
        key = opt.lstrip("-").lower()
        if key in _FLAGS:
            flags.add(key)
            i += 1
            continue
        if key not in _INT_FILTERS + _STR_FILTERS:
            known = ", ".join("-" + k for k in (*_INT_FILTERS, *_STR_FILTERS, *_FLAGS))
            raise ArgumentError(f"jobinfo: unknown option {opt!r} (known: {known})",
                                field="args")  # fmt: skip
        if i + 1 >= len(args):
            raise ArgumentError(f"jobinfo: option {opt!r} needs a value", field="args")
        filters[key] = args[i + 1]
        i += 2
    return filters, flags


def _unix(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ArgumentError(f"jobinfo: {name} expects unix seconds, a datetime or a date",
                        field=name)  # fmt: skip


def _matches(job: Mapping[str, Any], filters: Mapping[str, list[Any]]) -> bool:
    for key, wanted in filters.items():
        value = job.get(key)
        if key == "status" and isinstance(value, str):
            value = value.lower()
        if value in wanted:
            continue
        globbed = key == "name" and isinstance(value, str)  # '*' in names, as the server does
        if globbed and any("*" in w and fnmatch.fnmatchcase(str(value), w) for w in wanted):
            continue
        return False
    return True


def _orderby(orderby: str | None) -> tuple[str, bool] | None:
    """``"id DESC"`` -> ``("id", True)``; checked before anything is asked of the supervisor."""
    if orderby is None:
        return None
    m = re.fullmatch(r"\s*(\w+)(?:\s+(asc|desc))?\s*", str(orderby), re.IGNORECASE)
    if m is None:
        raise ArgumentError(f"jobinfo: orderby {orderby!r}: expected 'FIELD' or 'FIELD DESC'",
                            field="orderby")  # fmt: skip
    return m.group(1), (m.group(2) or "").lower() == "desc"


def _order(jobs: list[JSON], key: str, desc: bool) -> list[JSON]:
    def sort_key(j: JSON) -> tuple[int, Any]:
        v = j.get(key)
        return (0, "") if v is None else (1, v if isinstance(v, int | float) else str(v))

    return sorted(jobs, key=sort_key, reverse=desc)


# Qube's tally keys that triggerfish never uses (its own ``retrying`` is kept besides them)
_QUBE_TALLY = ("badlogin", "unknown")
# Qube's job fields that a job which did not set them shows empty
_QUBE_EMPTY = ("account", "kind", "domain", "restrictions", "flagsstring", "mailaddress",
               "prod_show", "prod_shot", "prod_seq", "prod_client", "prod_dept", "prod_custom1",
               "prod_custom2", "prod_custom3", "prod_custom4", "prod_custom5")  # fmt: skip


def _qube_tally(raw: Any) -> dict[str, int]:
    out = {str(k): int(v) for k, v in (raw or {}).items()}
    for key in _QUBE_TALLY:
        out.setdefault(key, 0)
    return out


def _last(*times: Any) -> Any:
    known = [t for t in times if isinstance(t, int | float)]
    return max(known) if known else None


def _subjob_out(s: Mapping[str, Any], job: Mapping[str, Any]) -> Subjob:
    """An instance in Qube's shape: ``id`` is its number (an int), ``pid`` the job; ``count``
    the attempts, ``retry`` the job's retry limit (``retrysubjob``); ``target`` is the
    ``"12.0"`` the control verbs take; ``retries`` the retries counted."""
    jid = job.get("id")
    sub = Subjob(s)
    subid = int(s.get("subid", 0))
    sub.update(
        id=subid, subid=subid, pid=jid, target=f"{jid}.{subid}", retries=int(s.get("retry") or 0),
        retry=int(job.get("retrysubjob") or 0), count=int(s.get("count") or 0),
        timesubmit=job.get("timesubmit"),
        lastupdate=_last(job.get("timesubmit"), s.get("timestart"), s.get("timecomplete")),
    )  # fmt: skip
    return sub


def _work_out(w: Mapping[str, Any], job: Mapping[str, Any]) -> Work:
    """An agenda item in Qube's shape: ``pid`` the job, ``subid`` the instance that ran it
    last (an int, -1 before any did), ``package`` and ``resultpackage`` dicts, ``count`` the
    attempts, ``retry`` / ``retrydelay`` the job's limits; ``id`` / ``target`` is the
    ``"12:5"`` the control verbs take, ``retries`` the retries counted."""
    jid = job.get("id")
    work = Work(w)
    subid = w.get("subid")
    work.update(
        pid=jid, target=f"{jid}:{w.get('name')}", subid=-1 if subid is None else int(subid),
        retries=int(w.get("retry") or 0), retry=int(job.get("retrywork") or 0),
        retrydelay=job.get("retrywork_delay") or 0, count=int(w.get("count") or 0),
        package=dict(w.get("package") or {}),
        resultpackage=dict(w.get("resultpackage") or w.get("result") or {}),
        timesubmit=job.get("timesubmit"),
        lastupdate=_last(job.get("timesubmit"), w.get("timestart"), w.get("timecomplete")),
    )  # fmt: skip
    return work


def _job_out(row: JSON, flags: set[str], cbs: JSON | None) -> Job:
    """A job as the supervisor gives it, in Qube's shape: its stored fields at the top,
    ``todotally`` / ``cpustally`` with Qube's keys, ``agenda`` / ``subjobs`` / ``callbacks``
    when asked."""
    d = dict(row)
    rest = d.pop("fields", None)
    if isinstance(rest, Mapping):
        for k, v in rest.items():
            d.setdefault(k, v)
    for k in _QUBE_EMPTY:
        if d.get(k) is None:
            d[k] = ""
    d.setdefault("flags", 0)
    d["todotally"] = _qube_tally(d.get("todotally"))
    d["cpustally"] = _qube_tally(d.get("cpustally"))
    d.setdefault("subjobstatus", "")
    d.setdefault("agendastatus", "")
    d.pop("callbacks", None)
    d.pop("agenda_truncated", None)
    agenda = d.pop("agenda", None)
    if "agenda" in flags:
        d["agenda"] = [_work_out(w, d) for w in agenda or []]
    subjobs = d.pop("subjobs", None)
    if "subjobs" in flags:
        d["subjobs"] = [_subjob_out(s, d) for s in subjobs or []]
    if cbs is not None:
        d["callbacks"] = [Callback(cb) for cb in cbs.get("callbacks", [])]
    return Job._of(d)


def _positional(args: Sequence[Any], fields: list[str], flt: dict[str, Any]) -> None:
    """Qube's positional forms of jobinfo: ``(fields, filters)``, or the deprecated
    ``(filters)``; adds to ``fields`` and ``flt``."""
    if len(args) > 2:
        raise ArgumentError("jobinfo: positional arguments are (fields, filters), or the "
                            "callback form ('-id', N)", field="args")  # fmt: skip
    pos = list(args)
    if isinstance(pos[0], Mapping):  # Qube's deprecated jobinfo(filters)
        pos = [[], pos[0], *pos[1:]]
    if not isinstance(pos[0], list | tuple):
        raise ArgumentError(f"jobinfo: fields must be a list such as ['agenda'], got "
                            f"{_short(pos[0])}", field="fields")  # fmt: skip
    fields += pos[0]
    if len(pos) > 1:
        if not isinstance(pos[1], Mapping):
            raise ArgumentError("jobinfo: filters must be a dict", field="filters")
        flt.update(pos[1])


def _request(
    args: Sequence[Any], fields: Sequence[str] | None, filters: Mapping[str, Any] | None,
    given: Mapping[str, Any], switches: Mapping[str, bool],
) -> tuple[dict[str, list[Any]], set[str]]:  # fmt: skip
    """The filters (each a list of wanted values) and the parts asked for (``agenda``,
    ``subjobs``, ``callbacks``) of a jobinfo call, checked."""
    flt: dict[str, Any] = {}
    flags: set[str] = set()
    names: list[str] = list(fields or [])
    if args and isinstance(args[0], str) and args[0].startswith("-"):
        flt, flags = _cli_args(args)
    elif args:
        _positional(args, names, flt)
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise ArgumentError("jobinfo: filters must be a dict", field="filters")
        flt.update(filters)
    flt.update({k: v for k, v in given.items() if v is not None})
    for f in names:
        if f not in _FLAGS:
            raise ArgumentError(f"jobinfo: unknown field {f!r} (known: {', '.join(_FLAGS)})",
                                field="fields")  # fmt: skip
        flags.add(f)
    flags |= {k for k, on in switches.items() if on}
    unknown = sorted(set(flt) - set(_INT_FILTERS + _STR_FILTERS))
    if unknown:
        raise ArgumentError(
            f"jobinfo: filter {unknown[0]!r} is not offered (filters: "
            f"{', '.join(_INT_FILTERS + _STR_FILTERS)})",
            field="filters",
        )
    return {k: _values(k, v) for k, v in flt.items()}, flags


def _rows(c: Client, want: Mapping[str, list[Any]], agenda: bool) -> tuple[list[JSON], bool]:
    """The jobs the filters may match: read one by one when ids are given (True: in full),
    else listed a page at a time (False: summaries)."""
    rows: list[JSON] = []
    if "id" in want:
        for jid in dict.fromkeys(want["id"]):
            try:
                rows.append(c.job(jid, agenda=agenda))
            except ClientError as exc:
                if exc.status != 404:
                    raise
        return rows, True
    params: dict[str, Any] = {}
    for key in _SERVER_FILTERS:
        vals = want.get(key)
        if vals is not None and (key == "status" or len(vals) == 1):
            params[key] = vals if key == "status" else vals[0]
    offset = 0
    while True:
        batch = c.jobs(**params, limit=PAGE, offset=offset)
        rows += batch
        offset += len(batch)
        if len(batch) < PAGE:
            return rows, False


def _select(
    rows: list[JSON], want: Mapping[str, list[Any]], ids: tuple[int | None, int | None],
    submitted: tuple[float | None, float | None], order: tuple[str, bool] | None,
    limit: int | None,
) -> list[JSON]:  # fmt: skip
    """The rows that match, in order, at most ``limit``."""
    minid, maxid = ids
    after, before = submitted
    rows = [r for r in rows if _matches(r, want)]
    if minid is not None:
        rows = [r for r in rows if int(r["id"]) >= minid]
    if maxid is not None:
        rows = [r for r in rows if int(r["id"]) <= maxid]
    if after is not None:
        rows = [r for r in rows if (r.get("timesubmit") or 0) > after]
    if before is not None:
        rows = [r for r in rows if (r.get("timesubmit") or 0) < before]
    if order is not None:
        rows = _order(rows, *order)
    return rows if limit is None else rows[: max(limit, 0)]


def _full(c: Client, rows: list[JSON], full: bool, flags: set[str]) -> list[Job]:
    """Each row as a whole job (read again when it is a listing's summary; one removed
    meanwhile is left out), in Qube's shape."""
    out: list[Job] = []
    for r in rows:
        if not full:
            try:
                r = c.job(int(r["id"]), agenda="agenda" in flags)
            except ClientError as exc:
                if exc.status == 404:  # removed meanwhile
                    continue
                raise
        cbs = c.callbacks(int(r["id"]), runs=0) if "callbacks" in flags else None
        out.append(_job_out(r, flags, cbs))
    return out


def _bound(key: str, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ArgumentError(f"jobinfo: {key} must be a whole number", field=key)
    return value


def jobinfo(
    *args: Any,
    fields: Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    id: Any = None,
    status: str | Sequence[str] | None = None,
    pgrp: int | str | Sequence[int | str] | None = None,
    label: str | Sequence[str] | None = None,
    user: str | Sequence[str] | None = None,
    name: str | Sequence[str] | None = None,
    pid: int | Sequence[int] | None = None,
    agenda: bool = False,
    subjobs: bool = False,
    callbacks: bool = False,
    minid: int | None = None,
    maxid: int | None = None,
    limit: int | None = None,
    orderby: str | None = None,
    submittedAfter: float | date | None = None,
    submittedBefore: float | date | None = None,
    updatedAfter: Any = None,
    updatedBefore: Any = None,
) -> list[Job]:
    """Jobs as dicts, in Qube's forms; an id that does not exist gives no entry (no error).

    - callback form: ``jobinfo("-id", 12)``, ``jobinfo("-pgrp", 12, "-agenda")``
    - API form: ``jobinfo(id=12)``, ``jobinfo(id=[12, 13])``, ``jobinfo(status="running")``,
      ``jobinfo(pgrp=12)``, ``jobinfo(filters={"label": "render"}, fields=["agenda"])``,
      ``jobinfo(["agenda"], {"id": 12})``; ``agenda``/``subjobs``/``callbacks=True`` add those.

    ``status`` also takes ``done`` (complete, failed, killed) and ``active``. Each job has
    Qube's ``subjobstatus``, ``agendastatus``, ``cpustally``, ``todotally``, ``todo``,
    ``lastupdate`` and the fields it was submitted with; instances and items are in Qube's
    shapes (:func:`_subjob_out`, :func:`_work_out`). Every matching job is read in full.
    """
    if updatedAfter is not None or updatedBefore is not None:
        raise NotSupported("qb.jobinfo: updatedAfter/updatedBefore are not offered by this "
                           "version; use submittedAfter/submittedBefore")  # fmt: skip
    given = {"id": id, "status": status, "pgrp": pgrp, "label": label, "user": user,
             "name": name, "pid": pid}  # fmt: skip
    switches = {"agenda": agenda, "subjobs": subjobs, "callbacks": callbacks}
    want, flags = _request(args, fields, filters, given, switches)
    ids = (_bound("minid", minid), _bound("maxid", maxid))
    _bound("limit", limit)
    submitted = (_unix("submittedAfter", submittedAfter),
                 _unix("submittedBefore", submittedBefore))  # fmt: skip
    order = _orderby(orderby)
    c = client()
    with _server():
        rows, full = _rows(c, want, "agenda" in flags)
        rows = _select(rows, want, ids, submitted, order, limit)
        return _full(c, rows, full, flags)


def hostinfo(name: str | Sequence[str] | None = None,
             state: str | Sequence[str] | None = None) -> list[Host]:  # fmt: skip
    """The worker hosts (name, state, slots, properties, groups, …), optionally filtered.

    Each has its lock as Qube shows it (``locks``: ``"host.processors=all"`` when locked,
    else ``""``), ``locked`` / ``locked_by`` / ``locked_at``, ``check`` (why its worker's
    ``--check`` fails, None while it passes: no new work goes to it meanwhile), and ``facts``:
    its properties under Qube's names (``host.processors``, ``host.memory.avail``, ...)."""
    names = None if name is None else {name} if isinstance(name, str) else set(name)
    states = None if state is None else {state} if isinstance(state, str) else set(state)
    with _server():
        hosts = client().hosts()
    return [_qube_host(h) for h in hosts
            if (names is None or h.get("name") in names)
            and (states is None or h.get("state") in states)]  # fmt: skip


# ---------------------------------------------------------------------------------- hist


def _comment(e: Mapping[str, Any]) -> str:
    kind = e.get("type")
    what = {
        "job": "job",
        "subjob": f"instance {e.get('subid')}",
        "work": f"work {e.get('work')}",
        "host": f"host {e.get('host')}",
    }.get(str(kind), str(kind))
    text = f"{what} {e.get('name')}"
    if e.get("host") and kind != "host":
        text += f" on {e['host']}"
    reason = (e.get("data") or {}).get("reason")
    if reason:
        text += f" ({reason})"
    return text


def hist(jobid: Targets, *extraJobids: Targets) -> list[JSON]:
    """A job's history from the event log, oldest first: ``hist(12)``, ``hist("12.0")``,
    ``hist("12:5")``.

    Each entry has Qube's keys ``jobid``, ``subid`` and ``workid`` (-1 when the event is not
    about one), ``comment``, ``stamp`` (local time text) and ``timestamp`` (unix seconds), and
    the event's own ``seq``, ``name``, ``type``, ``work``, ``host``, ``data`` and ``time``.
    """
    out: list[JSON] = []
    c = client()
    for text in _job_targets("hist", [jobid, *extraJobids]):
        t = parse_target(text)
        since = 0
        while True:
            with _server():
                batch = c.events(since=since, limit=PAGE, job=t.job)
            for e in batch:
                if t.subid is not None and e.get("subid") != t.subid:
                    continue
                if t.work is not None and e.get("work") != t.work:
                    continue
                stamp = float(e.get("time") or 0.0)
                out.append({
                    "jobid": e.get("job"),
                    "subid": -1 if e.get("subid") is None else e["subid"],
                    "workid": -1 if e.get("work") is None else e["work"],
                    "comment": _comment(e),
                    "stamp": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)),
                    "timestamp": int(stamp),
                    "seq": e.get("seq"),
                    "name": e.get("name"),
                    "type": e.get("type"),
                    "work": e.get("work"),
                    "host": e.get("host"),
                    "data": e.get("data") or {},
                    "time": stamp,
                })  # fmt: skip
            if len(batch) < PAGE:
                break
            since = int(batch[-1]["seq"])
    return out


# ---------------------------------------------------------------------------------- back end
# Qube's back-end functions, for the programs of job types (docs/jobtypes.md).
from triggerfish.qbback import (  # noqa: E402  (they use the classes above)
    WorkerRefused,
    jobobj,
    reportjob,
    reportwork,
    requestwork,
    updateresultpackage,
)

__all__ += ["WorkerRefused", "jobobj", "reportjob", "reportwork", "requestwork"]
__all__ += ["updateresultpackage"]
