"""The wire protocol: JSON bodies of the HTTP API under ``/api/v1``.

Endpoints (all JSON; errors are ``{"error": {"code", "message", "field"?}}`` with a 4xx/5xx):

Users and tools
  POST /api/v1/jobs                      body: list of job dicts, or {"jobs": [...]}
                                         -> 201 SubmitResponse
  GET  /api/v1/jobs?status=&pgrp=&label=&user=&name=&limit=&offset=
                                         -> {"jobs": [JobSummary]}
  GET  /api/v1/jobs/{id}?agenda=true     -> JobDetail (summary + fields + subjobs + the
                                            first 1,000 agenda items)
  GET  /api/v1/jobs/{id}/work?offset=&limit=  -> WorkPage (the agenda, a page at a time)
  GET  /api/v1/jobs/{id}/work/{name}     -> WorkInfo
  POST /api/v1/control                   body: ControlRequest -> ControlResponse
       (also POST /api/v1/jobs/{id}/{action}, body {} or {"fields": {...}} for modify)
  GET  /api/v1/hosts                     -> {"hosts": [HostInfo]}
  GET  /api/v1/events?after=SEQ&limit=N&job=ID&wait=SECONDS -> {"events": [EventInfo], "last": SEQ}
  GET  /api/v1/jobs/{id}/work/{name}/log?stream=stdout|stderr  -> text/plain
  GET  /api/v1/jobs/{id}/subjobs/{subid}/log?stream=...        -> text/plain (cmdline jobs)

Workers
  POST /api/v1/workers/register          RegisterRequest -> RegisterResponse
  POST /api/v1/workers/{host}/pull       PullRequest -> PullResponse     (long poll; heartbeat)
  POST /api/v1/workers/{host}/report     ReportRequest -> ReportResponse
  POST /api/v1/workers/{host}/log        LogChunk -> {}

Targets of control verbs: ``"12"`` (job), ``"12.0"`` (instance 0 of job 12), ``"12:NAME"``
(work item NAME of job 12).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triggerfish.model.jobspec import JOBTYPE_RE
from triggerfish.model.text import scrub, scrub_text

Action = Literal[
    "kill", "block", "unblock", "retry", "requeue", "remove", "modify", "preempt",
    "suspend", "resume", "interrupt", "migrate", "complete", "retire", "shove",
]  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- users and tools


class SubmittedJob(BaseModel):
    id: int
    label: str
    pgrp: int
    status: str
    name: str


class SubmitResponse(BaseModel):
    jobs: list[SubmittedJob]
    warnings: list[str] = Field(default_factory=list)


class JobSummary(BaseModel):
    id: int
    name: str
    label: str
    pgrp: int
    pid: int | None
    user: str
    priority: int
    status: str
    prototype: str
    cpus: int
    reason: str = ""
    # why the job can no longer finish by itself (it waits for an upstream that failed, was
    # killed or does not exist); empty when it can (docs/jobs.md, "Jobs that cannot finish")
    stuck: str = ""
    todo: int = 0  # number of agenda items
    todotally: dict[str, int] = Field(default_factory=dict)
    timesubmit: float | None = None
    timestart: float | None = None
    timecomplete: float | None = None


class SubjobInfo(BaseModel):
    id: str  # "J.S"
    subid: int
    pid: int | None = None  # the job (Qube's name)
    status: str
    host: str | None = None
    retry: int = 0  # retries counted
    count: int = 0  # attempts made (Qube's count)
    work: str | None = None  # the item it is running
    timestart: float | None = None
    timecomplete: float | None = None


class WorkInfo(BaseModel):
    id: str  # "J:NAME"
    job: int
    name: str
    seq: int
    status: str
    pid: int | None = None  # the job (Qube's name)
    subid: int | None = None
    host: str | None = None
    retry: int = 0  # retries counted
    count: int = 0  # attempts made (Qube's count)
    exit_code: int | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    resultpackage: dict[str, Any] = Field(default_factory=dict)  # Qube's name of result
    package: dict[str, Any] = Field(default_factory=dict)  # the item's own (Qube's Work.package)
    timestart: float | None = None
    timecomplete: float | None = None


class JobDetail(JobSummary):
    lastupdate: float | None = None
    # Qube's shapes: the instances counted by status, and one status for the instances and
    # one for the agenda (model.status.aggregate; "" when the job has none)
    cpustally: dict[str, int] = Field(default_factory=dict)
    subjobstatus: str = ""
    agendastatus: str = ""
    package: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)  # the rest of the submitted job dict
    subjobs: list[SubjobInfo] = Field(default_factory=list)
    # the first items of the agenda (at most 1,000); ``todo`` is their number, ``todotally``
    # their counts by status; the rest: GET /jobs/{id}/work?offset=&limit=
    agenda: list[WorkInfo] = Field(default_factory=list)
    agenda_truncated: bool = False  # the agenda has more items than ``agenda`` carries


class WorkPage(BaseModel):
    """``GET /jobs/{id}/work?offset=&limit=``: items ``offset`` … of a job's agenda."""

    work: list[WorkInfo]
    offset: int
    limit: int
    total: int  # items of the agenda (the job's ``todo``)


class ErrorBody(BaseModel):
    code: str  # invalid, not_found, unauthorized, forbidden, conflict, too_large, store, ...
    message: str
    field: str | None = None  # the field, parameter or part of the request at fault
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    """Every error answer (4xx, 5xx): ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorBody


class ControlRequest(Strict):
    action: Action
    targets: list[str] = Field(min_length=1)
    fields: dict[str, Any] = Field(default_factory=dict)  # for modify


class ControlResult(BaseModel):
    target: str
    status: str  # the target's status after the action ("removed" for remove)


class ControlResponse(BaseModel):
    results: list[ControlResult]


class RunningItem(BaseModel):
    """What runs on a host now: an instance (``item`` None) or an agenda item of a job."""

    job: int
    subjob: int
    item: str | None = None


class HostInfo(BaseModel):
    name: str
    state: str
    slots: int
    used: int = 0
    properties: dict[str, Any] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)
    cluster: str | None = None
    last_seen: float | None = None
    registered: float | None = None
    running: list[RunningItem] = Field(default_factory=list)  # GET /hosts only: what runs
    # a lock (``triggerfish host lock``): no new work goes to it; who locked it, and when
    locked: bool = False
    locked_by: str | None = None
    locked_at: float | None = None
    # GET /hosts only: its facts under Qube's names (engine.hostfacts: ``host.name``,
    # ``host.processors``, ``host.memory.avail`` in MB, ``host.<property>``, ...)
    facts: dict[str, Any] = Field(default_factory=dict)
    # GET /hosts only: why its worker's own health check (``--check``) fails; while it does,
    # no new work goes to it (None: it passes, or the worker has none)
    check: str | None = None
    # the job types its worker runs (said when it registered): jobs whose prototype is one
    jobtypes: list[str] = Field(default_factory=list)


class ResourceInfo(BaseModel):
    """A global resource (a license pool): ``triggerfish resources``."""

    name: str
    total: int  # defined (``--resource maya=5``, ``resources set maya 5``)
    used: int = 0  # taken by instances running now (their jobs' ``reservations``)
    available: int = 0  # total - used, never below 0
    changed_by: str = ""
    changed_at: float = 0.0


class ResourceSet(BaseModel):
    """The body of ``PUT /api/v1/resources/{name}``."""

    model_config = ConfigDict(extra="forbid")

    total: Annotated[int, Field(ge=0, le=10**9)]


class EventInfo(BaseModel):
    seq: int
    time: float
    name: str
    type: str
    job: int | None = None
    subid: int | None = None
    work: str | None = None
    host: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventsResponse(BaseModel):
    events: list[EventInfo]
    last: int  # seq of the last event returned (or ``after`` when none)
    head: int = 0  # seq of the newest event in the log


# ---------------------------------------------------------------- workers


# the worker's own health check (``triggerfish worker --check``): None, it has none (or says
# nothing new); "" it passes; else why it fails (the host then gets no new work)
CheckState = Annotated[str | None, Field(default=None, max_length=2000)]


class Flights(BaseModel):
    """A job's flight checks as its worker runs them (``model.flights``): comma-separated
    programs, and the seconds each may run."""

    preflights: str = ""
    postflights: str = ""
    agenda_preflights: str = ""
    agenda_postflights: str = ""
    timeout: float = 300.0


# a job type's name, as a job's ``prototype`` may give it (model.jobspec.JOBTYPE_RE)
JobTypeName = Annotated[str, Field(pattern=JOBTYPE_RE.pattern)]


class RegisterRequest(Strict):
    name: str = Field(min_length=1, max_length=255)
    slots: int = Field(ge=1, le=4096)
    groups: list[str] = Field(default_factory=list)
    cluster: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)  # os, cores, memory, gpus, ...
    memory_avail: int | None = Field(default=None, ge=0)  # bytes available now
    check: CheckState = None
    # the job types this worker can run (``--jobtypes`` directories and the entry point group
    # ``triggerfish.jobtypes``): a job whose ``prototype`` is one of them goes only to such hosts
    jobtypes: list[JobTypeName] = Field(default_factory=list, max_length=1000)


class RegisterResponse(BaseModel):
    host: str
    session: str  # sent back with every pull/report; a new session voids the old one's work
    heartbeat: float  # seconds between pulls when idle (the long-poll wait)
    host_timeout: float


class Assignment(BaseModel):
    """One unit of work handed to a worker: an agenda item, or a whole instance (cmdline)."""

    token: str  # the attempt's token; reports must carry it
    job: int
    subid: int
    work: str | None  # agenda item name; None for cmdline jobs without agenda
    pgrp: int
    name: str  # job name
    prototype: str
    package: dict[str, Any]
    # the agenda item's own package (Qube's ``Work.package``; empty when it has none)
    work_package: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    frame_step: int | None = None
    # lookahead: the token of the attempt (on the same slot: of the same instance, or another
    # job's) after whose end this one runs; the item is held for this worker, and the
    # supervisor counts it running from that end
    after: str | None = None
    # a callback waits on its end (e.g. a dependent frame): the worker reports it at once
    watched: bool = False
    # the job's token (TRIGGERFISH_TOKEN of the command or task): its owner's rights, valid
    # while the job is not finished (see auth.jobtokens)
    api_token: str | None = None
    # the job's flight checks (None: it has none)
    flights: Flights | None = None
    # "postflight": run only the instance's postflights (its last item on this host has run;
    # the report of this token is that item's)
    flight: Literal["postflight"] | None = None


AHEAD_MAX = 64  # items a worker may hold queued behind each running one


class PullRequest(Strict):
    session: str
    running: list[str] = Field(
        default_factory=list
    )  # tokens the worker runs or has not yet had acknowledged
    # lookahead tokens (``Assignment.after``) it holds queued, not started, in the order it
    # will run them: after a restart the supervisor keeps (only) these holds, in this order
    queued: list[str] = Field(default_factory=list)
    wait: float = Field(default=10.0, ge=0, le=60)  # long-poll: seconds to wait for work
    ahead: int = Field(default=0, ge=0, le=AHEAD_MAX)  # lookahead items accepted per instance
    memory_avail: int | None = Field(default=None, ge=0)  # bytes available now (or None)
    check: CheckState = None


class PullResponse(BaseModel):
    assignments: list[Assignment] = Field(default_factory=list)
    cancel: list[str] = Field(default_factory=list)  # tokens to stop now (kill the process group)
    suspend: list[str] = Field(default_factory=list)  # tokens to stop (SIGSTOP the group)
    resume: list[str] = Field(default_factory=list)  # tokens to continue (SIGCONT the group)


class PreflightFailure(Strict):
    """A preflight (or agenda preflight) that failed: the command did not run; the work goes
    to another host, no failed attempt counted, and the job avoids this host."""

    program: str = Field(max_length=10_000)
    exit_code: int | None = None  # None: it timed out or could not start
    error: str = Field(default="", max_length=10_000)


class Report(Strict):
    token: str
    status: Literal["complete", "failed"]
    exit_code: int | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # e.g. "command not found", "killed by signal 9"
    seconds: float | None = Field(default=None, ge=0)  # how long it ran, by the worker's clock
    preflight: PreflightFailure | None = None  # a preflight failed (``status`` is "failed")

    @model_validator(mode="after")
    def _storable(self) -> Report:
        """A task's result or error may hold text no store or JSON can (a NUL, a lone
        surrogate): replaced by U+FFFD, and the paths replaced listed in ``result`` under
        ``SCRUBBED`` (never refused: the worker could not report at all)."""
        changed: list[str] = []
        if self.result:
            self.result = scrub(self.result, "result", changed)
        if self.error:
            self.error = scrub(self.error, "error", changed)
        if changed:
            before = self.result.get(SCRUBBED)  # (the worker's list, when it replaced some)
            self.result[SCRUBBED] = [*(before if isinstance(before, list) else []), *changed]
        return self


# the key of a report's result listing the texts whose NUL and lone surrogates were replaced
SCRUBBED = "replaced_characters"


class ReportRequest(Strict):
    session: str
    reports: list[Report] = Field(default_factory=list)
    # lookahead attempts (``Assignment.after``) the worker gives back without running them
    release: list[str] = Field(default_factory=list)
    ahead: int = Field(default=0, ge=0, le=AHEAD_MAX)  # lookahead items accepted per instance
    memory_avail: int | None = Field(default=None, ge=0)  # bytes available now (or None)
    check: CheckState = None  # (a report may carry only a change of it)

    @model_validator(mode="after")
    def _something(self) -> ReportRequest:
        if not self.reports and not self.release and self.check is None:
            raise ValueError(
                "a report carries at least one report, one released token or a check state"
            )
        return self


class ReportResponse(BaseModel):
    accepted: list[str] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list)  # stale tokens: late reports of lost attempts
    # new work for the slots the reports freed (the same as a pull would have handed out),
    # and lookahead items (``after`` set) for the instances that go on
    assignments: list[Assignment] = Field(default_factory=list)
    cancel: list[str] = Field(default_factory=list)  # tokens to stop now, or not to start
    suspend: list[str] = Field(default_factory=list)  # tokens to stop (SIGSTOP the group)
    resume: list[str] = Field(default_factory=list)  # tokens to continue (SIGCONT the group)
    # reported tokens whose instance gets no next item, and why: "complete" (the job has no
    # more work for it), "pending" (its slot went to other work: preempted), "blocked" (the job
    # is blocked or suspended). A job type's ``qb.requestwork()`` answers with this status.
    ended: dict[str, Literal["complete", "pending", "blocked"]] = Field(default_factory=dict)


class LogChunk(Strict):
    session: str
    token: str
    stream: Literal["stdout", "stderr"]
    data: str

    @field_validator("data")
    @classmethod
    def _storable(cls, value: str) -> str:
        return scrub_text(value)  # (a log file is UTF-8 text: a lone surrogate is replaced)


class SignOffRequest(Strict):
    """A worker that stops: its host takes no more work; ``final`` once it has stopped its
    commands and sent its last reports (what it still held goes back to pending)."""

    session: str
    final: bool = False


# ---------------------------------------------------------------- users and tokens (admin)

USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")


class UserRequest(Strict):
    """A new user (``permissions``) or worker token (``worker: true``)."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    permissions: list[str] = Field(default_factory=list)
    worker: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not USER_NAME.fullmatch(value):
            raise ValueError(
                "a user name is letters, digits and _ . @ - (not starting with . @ -), "
                f"got {value!r}"
            )
        return value


class UserInfo(BaseModel):
    name: str
    kind: str  # user | worker
    permissions: list[str]
    created: float


class UserToken(UserInfo):
    token: str  # shown once: only its hash is stored
