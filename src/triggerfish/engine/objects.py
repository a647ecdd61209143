"""The engine's in-memory objects: active jobs with their instances and agenda, hosts, attempts.

The database is the truth; these are its write-through cache, loaded at start and changed only by
the engine thread. Each object turns itself into the row the store writes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from triggerfish.engine.hostfacts import meets
from triggerfish.model.jobspec import BUILTIN_PROTOTYPES
from triggerfish.model.status import empty_tally
from triggerfish.store.changes import Row

# the fields besides requirements that say which hosts a job may run on (JobRT.eligible)
_PLACED = ("hosts", "omithosts", "groups", "omitgroups", "cluster")
# a dispatch class (JobRT.dispatch_class): requirements, reservations, hostorder, job type
DispatchClass = tuple[str, str, str, str]


@dataclass(slots=True)
class WorkRT:
    job_id: int
    name: str
    seq: int
    status: str = "pending"
    subid: int | None = None
    host: str | None = None
    token: str | None = None
    retry: int = 0
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    retry_at: float | None = None
    timestart: float | None = None
    timecomplete: float | None = None
    reserved: str | None = None  # the hold on this pending item (stored as its token and host)
    ready: float = 0.0  # when it last became pending (dispatch latency; not stored)
    avoid: str | None = None  # migrated: the host its next attempt may not use (not stored)
    left: float | None = None  # suspended: seconds its timeout had left (not stored)

    def row(self) -> Row:
        return {
            "job_id": self.job_id, "name": self.name, "seq": self.seq, "status": self.status,
            "subid": self.subid, "host": self.host, "token": self.token, "retry": self.retry,
            "exit_code": self.exit_code, "result": self.result, "retry_at": self.retry_at,
            "timestart": self.timestart, "timecomplete": self.timecomplete,
        }  # fmt: skip

    @classmethod
    def from_row(cls, r: Row) -> WorkRT:
        return cls(
            r["job_id"], r["name"], r["seq"], r["status"], r["subid"], r["host"], r["token"],
            r["retry"], r["exit_code"], r["result"], r["retry_at"], r["timestart"],
            r["timecomplete"],
        )  # fmt: skip


@dataclass(slots=True)
class SubRT:
    job_id: int
    subid: int
    status: str = "pending"
    host: str | None = None
    token: str | None = None
    retry: int = 0
    work: str | None = None
    exit_code: int | None = None
    retry_at: float | None = None
    timestart: float | None = None
    timecomplete: float | None = None
    # lookahead attempts queued behind the running one on its host, in order (not stored)
    ahead: list[Attempt] = field(default_factory=list)
    ready: float = 0.0  # when it last became pending (dispatch latency; not stored)
    avoid: str | None = None  # migrated: the host its next attempt may not use (not stored)
    left: float | None = None  # suspended: seconds its timeout had left (not stored)

    def row(self) -> Row:
        return {
            "job_id": self.job_id, "subid": self.subid, "status": self.status, "host": self.host,
            "token": self.token, "retry": self.retry, "work": self.work,
            "exit_code": self.exit_code, "retry_at": self.retry_at, "timestart": self.timestart,
            "timecomplete": self.timecomplete,
        }  # fmt: skip

    @classmethod
    def from_row(cls, r: Row) -> SubRT:
        return cls(
            r["job_id"], r["subid"], r["status"], r["host"], r["token"], r["retry"], r["work"],
            r["exit_code"], r["retry_at"], r["timestart"], r["timecomplete"],
        )  # fmt: skip


@dataclass(slots=True)
class JobRT:
    id: int
    pgrp: int
    pid: int | None
    label: str
    name: str
    user: str
    priority: int
    status: str
    prototype: str
    cpus: int
    step: int
    reason: str
    package: dict[str, Any]
    fields: dict[str, Any]
    timesubmit: float
    timestart: float | None = None
    timecomplete: float | None = None
    lastupdate: float = 0.0
    work: dict[str, WorkRT] = field(default_factory=dict)
    subs: dict[int, SubRT] = field(default_factory=dict)
    tally: dict[str, int] = field(default_factory=empty_tally)
    pending: list[tuple[int, str]] = field(default_factory=list)  # heap of (seq, name)
    api_token: str | None = None  # the job's token, made at its first assignment (an HMAC)
    runnable_at: float = 0.0  # when it last joined the runnable set (not stored)
    avoid: set[str] = field(default_factory=set)  # hosts migrated work may not go back to
    # hosts whose preflight failed (engine.flights): avoided for good, with why (not stored)
    grounded: dict[str, str] = field(default_factory=dict)
    # (fields, dispatch class) as last computed (:meth:`dispatch_class`; not stored)
    klass: tuple[dict[str, Any], DispatchClass | None] | None = None
    # the agenda items' own packages, by name: only the items that have one (None: no item
    # has), so that the items of an ordinary job cost no more memory (stored: work.package)
    packages: dict[str, dict[str, Any]] | None = None
    open_key: DispatchClass | None = None  # the class it is filed under (engine.openjobs)

    @property
    def has_agenda(self) -> bool:
        return bool(self.work)

    def push_pending(self, w: WorkRT) -> None:
        heapq.heappush(self.pending, (w.seq, w.name))

    def pop_pending(self) -> WorkRT | None:
        """The first item still pending, in agenda order (stale heap entries are dropped)."""
        while self.pending:
            _, name = self.pending[0]
            w = self.work.get(name)
            if w is not None and w.status == "pending" and w.reserved is None:
                heapq.heappop(self.pending)
                return w
            heapq.heappop(self.pending)
        return None

    def has_pending(self) -> bool:
        while self.pending:
            w = self.work.get(self.pending[0][1])
            if w is not None and w.status == "pending" and w.reserved is None:
                return True
            heapq.heappop(self.pending)
        return False

    def idle_sub(self) -> SubRT | None:
        for s in self.subs.values():
            if s.status == "pending" and s.subid < self.cpus:
                return s
        return None

    def row(self) -> Row:
        return {
            "id": self.id, "pgrp": self.pgrp, "pid": self.pid, "label": self.label,
            "name": self.name, "user": self.user, "priority": self.priority,
            "status": self.status, "prototype": self.prototype, "cpus": self.cpus,
            "step": self.step, "reason": self.reason, "todo": len(self.work),
            "todotally": dict(self.tally), "package": self.package, "fields": self.fields,
            "timesubmit": self.timesubmit, "timestart": self.timestart,
            "timecomplete": self.timecomplete, "lastupdate": self.lastupdate,
        }  # fmt: skip

    def hot_row(self) -> Row:
        """The columns that change as the job runs (``store.JOB_HOT``), with its id."""
        return {
            "id": self.id, "priority": self.priority, "status": self.status, "cpus": self.cpus,
            "reason": self.reason, "todotally": dict(self.tally), "timestart": self.timestart,
            "timecomplete": self.timecomplete, "lastupdate": self.lastupdate,
        }  # fmt: skip

    @classmethod
    def from_rows(cls, r: Row, subs: list[Row], items: list[Row]) -> JobRT:
        job = cls(
            r["id"], r["pgrp"], r["pid"], r["label"], r["name"], r["user"], r["priority"],
            r["status"], r["prototype"], r["cpus"], r["step"], r["reason"], r["package"],
            r["fields"], r["timesubmit"], r["timestart"], r["timecomplete"], r["lastupdate"],
        )  # fmt: skip
        for s in subs:
            job.subs[s["subid"]] = SubRT.from_row(s)
        for w in items:
            wr = WorkRT.from_row(w)
            job.work[wr.name] = wr
            if w.get("package"):
                job.packages = job.packages or {}
                job.packages[wr.name] = w["package"]
        job.recount()
        return job

    def recount(self) -> None:
        self.tally = empty_tally()
        units = self.work.values() if self.work else self.subs.values()
        for u in units:
            self.tally[u.status] = self.tally.get(u.status, 0) + 1
        self.pending = [(w.seq, w.name) for w in self.work.values() if w.status == "pending"]
        heapq.heapify(self.pending)

    @property
    def jobtype(self) -> str | None:
        """The job type that runs it (its prototype, when not a built-in one; issue 18)."""
        return None if self.prototype in BUILTIN_PROTOTYPES else self.prototype

    def dispatch_class(self) -> DispatchClass | None:
        """``(requirements, reservations, hostorder, job type)`` when these alone decide
        whether the job may run on a host and whether it fits there, so that dispatch may
        decide once for all the jobs of a class; None when more does (hosts, groups, cluster,
        hosts it avoids). The job type is ``""`` for the built-in prototypes.
        Remembered while ``fields`` is the same dict (a change replaces it: engine.control)."""
        if self.avoid:
            return None
        f = self.fields
        got = self.klass
        if got is None or got[0] is not f:
            placed = any(f.get(k) for k in _PLACED)
            key = None if placed else (
                f.get("requirements") or "", f.get("reservations") or "", f.get("hostorder") or "",
                self.jobtype or "",
            )  # fmt: skip
            got = self.klass = (f, key)
        return got[1]

    def eligible(self, host: HostRT) -> bool:
        key = self.dispatch_class()
        if key is not None:  # (only its requirements and job type may keep it off a host)
            if key[3] and key[3] not in host.jobtypes:
                return False
            return not key[0] or meets(host, key[0])
        if self.prototype not in BUILTIN_PROTOTYPES and self.prototype not in host.jobtypes:
            return False  # (a job type: only hosts that offer it)
        f = self.fields
        if f.get("hosts") and host.name not in f["hosts"]:
            return False
        if host.name in f.get("omithosts", ()):
            return False
        if self.avoid and host.name in self.avoid:  # (engine.verbs: migrate)
            return False
        groups = f.get("groups")
        if groups and set(groups).isdisjoint(host.groups):
            return False
        omit = f.get("omitgroups")
        if omit and not set(omit).isdisjoint(host.groups):
            return False
        cluster = f.get("cluster")
        if cluster:
            hc = host.cluster or ""
            if hc != cluster and not hc.startswith(cluster.rstrip("/") + "/"):
                return False
        requirements = f.get("requirements")
        return not requirements or meets(host, requirements)


@dataclass(slots=True)
class Attempt:
    token: str
    host: str
    job_id: int
    subid: int
    work: str | None
    delivered: float | None = None  # when it was sent to the worker (pull or report response)
    confirmed: bool = False  # listed back by the worker as running
    # what it took while it runs (engine.reserve: the job's reservations; not stored)
    procs: int = 1
    memory: int = 0
    globals: tuple[tuple[str, int], ...] = ()
    flight: str | None = None  # "postflight": it runs its instance's postflights (engine.flights)


@dataclass(slots=True)
class HostRT:
    name: str
    state: str
    slots: int
    properties: dict[str, Any]
    groups: list[str]
    cluster: str | None
    session: str | None
    last_seen: float | None
    registered: float | None
    attempts: dict[str, Attempt] = field(default_factory=dict)
    finished: dict[str, None] = field(default_factory=dict)  # tokens it reported lately
    ahead: int = 0  # lookahead items per instance the worker accepts (it says so each time)
    reserved: dict[str, Attempt] = field(default_factory=dict)  # its lookahead attempts
    outbox: list[tuple[Attempt, str]] = field(default_factory=list)  # (new lookahead, after)
    cancel: list[str] = field(default_factory=list)  # lookahead tokens withdrawn, to tell it
    # running tokens to stop (True: SIGSTOP) or continue (False: SIGCONT), to tell it
    signals: dict[str, bool] = field(default_factory=dict)
    # whole jobs held behind an attempt (engine.nextjobs): the token they follow -> in order
    chains: dict[str, list[Attempt]] = field(default_factory=dict)
    # jobs it held when the supervisor (re)started, read back from the store: each is claimed
    # when the worker reports or lists its token, given back if it does not in time
    adopt: dict[str, Attempt] = field(default_factory=dict)
    # (session, when) its long poll's connection broke with no answer (engine.hosts): unless
    # the worker calls in again within ``workers.LOST_GRACE``, it is gone (not stored)
    lost: tuple[str, float] | None = None
    # holds were read back from the store (restart, reload) and the worker has not yet said
    # what it holds (its first pull after that: ``engine.ahead.hear``)
    unheard: bool = False
    # locked by an admin (engine.hostlock): no new work, running work finishes (stored)
    locked_by: str | None = None
    locked_at: float | None = None
    # available memory in bytes, as its worker last said (registration, pulls; not stored)
    memory_avail: int | None = None
    # slots its running attempts take beyond one each, and memory (MB) they reserve
    # (engine.reserve: reservations; not stored)
    extra: int = 0
    mem_taken: int = 0
    # why its worker's own health check fails (engine.hostcheck); None: it passes (not stored)
    check: str | None = None
    check_at: float = 0.0  # when the request that said so reached the supervisor
    # what its last dispatch that found nothing was made of (engine.openjobs.idle_mark): its
    # parked pull is not served again while that holds (not stored)
    idle: tuple[Any, ...] | None = None
    # the job types its worker runs (said when it registers; stored)
    jobtypes: frozenset[str] = frozenset()

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    @property
    def takes_work(self) -> bool:
        """Whether new work may go to this host: it is up, not locked, its check passes."""
        return self.state == "active" and self.locked_at is None and not self.check

    def row(self) -> Row:
        return {
            "name": self.name, "state": self.state, "slots": self.slots,
            "properties": self.properties, "groups": self.groups, "cluster": self.cluster,
            "session": self.session, "last_seen": self.last_seen, "registered": self.registered,
            "locked_by": self.locked_by, "locked_at": self.locked_at,
            "jobtypes": sorted(self.jobtypes) or None,
        }  # fmt: skip

    @classmethod
    def from_row(cls, r: Row) -> HostRT:
        h = cls(
            r["name"], r["state"], r["slots"], r["properties"], r["groups"], r["cluster"],
            r["session"], r["last_seen"], r["registered"],
        )  # fmt: skip
        h.locked_by, h.locked_at = r.get("locked_by"), r.get("locked_at")
        h.jobtypes = frozenset(r.get("jobtypes") or ())
        return h

    @property
    def free(self) -> int:
        return self.slots - len(self.attempts) - self.extra
