"""Routes for users and tools: submit, list, inspect, control, hosts, events, logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import (
    ADMIN,
    SUBMIT,
    SUBMIT_CALLBACK,
    SUBMIT_GLOBAL_CALLBACK,
    code_languages,
)
from triggerfish.callbacks.spec import CallbackSpec
from triggerfish.engine import access, flights, placement, stuck
from triggerfish.engine import callbacks as cbx
from triggerfish.engine.hostfacts import host_facts
from triggerfish.errors import NoSuchItem, NoSuchJob, ValidationError
from triggerfish.model.invalid import invalid
from triggerfish.model.jobspec import NormalizedJob, parse_jobs
from triggerfish.model.pyfutures import PROTOTYPE as PYFUTURES
from triggerfish.model.pyfutures import pickle_field
from triggerfish.model.status import JOB_STATUSES
from triggerfish.model.tasks import uses_pickle
from triggerfish.server import convert
from triggerfish.server.auth import who
from triggerfish.server.context import Ctx, ctx
from triggerfish.server.logs import find_item, not_started
from triggerfish.server.openapi import JOBS_BODY, ModifyRequest, json_body, ref
from triggerfish.server.params import Id, Offset, OptionalId, Seq, SubId
from triggerfish.store import reads

router = APIRouter(prefix="/api/v1")
STUCK_ASKED = 2000  # blocked jobs of one listing whose ``stuck`` the engine works out
EVENT_TYPES = (
    "job", "subjob", "work", "host", "callback", "time", "repeat", "globaltime", "globalrepeat",
)  # fmt: skip


async def json_of(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body (for the routes that validate it themselves, naming fields as
    ``jobs[i].field``); an empty body is None where ``optional``."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return None
        raise ValidationError("body: expected a JSON body", field="body")
    try:
        return json.loads(raw)
    except ValueError as exc:  # (UnicodeDecodeError too)
        raise ValidationError(f"body: malformed JSON ({exc})", field="body") from None


@router.post("/jobs", status_code=201, response_model=s.SubmitResponse, tags=["jobs"],
             openapi_extra=JOBS_BODY)  # fmt: skip
async def submit_jobs(request: Request) -> s.SubmitResponse:
    """Submit a list of job dicts (Qube field names) in one pgrp; all or nothing.

    The jobs belong to the token's user (an admin may name another ``user``); callbacks that
    run code (python, perl, exec) need the permission ``submit_callback``.
    """
    c = ctx(request)
    me = who(request)
    me.require(SUBMIT, "submitting jobs")
    body = await json_of(request)
    jobs = await asyncio.to_thread(parse_jobs, body)  # a big submission must not stall the loop
    code = code_languages(spec.language for nj in jobs for _, spec in nj.callbacks)
    if code:
        me.require(SUBMIT_CALLBACK, f"submitting callbacks in {', '.join(code)}")
    if not me.admin:
        for nj in jobs:
            nj.spec.user = me.name
    check_pickle(c, jobs)
    universal = await asyncio.to_thread(c.universal.specs)  # re-read if the conf changed
    return await c.engine.acall(access.submit, jobs, me.name, universal, me)


def check_pickle(c: Ctx, jobs: list[NormalizedJob]) -> None:
    """Pickles (task params, ``pyfutures`` calls) only where the supervisor was started with
    --allow-pickle: unpickling on a worker runs code."""
    if c.settings.allow_pickle:
        return
    for i, j in enumerate(jobs):
        where = None
        if uses_pickle(j.prototype, j.spec.package):
            where = "package.encoding"
        elif j.prototype == PYFUTURES:
            agenda = j.spec.agenda if isinstance(j.spec.agenda, list) else []
            where = pickle_field(j.spec.package, agenda)
        if where is not None:
            raise ValidationError(
                f"jobs[{i}].{where}: pickle is refused by this supervisor (start it "
                "with --allow-pickle to accept pickles)",
                field=f"jobs[{i}].{where}",
            )


def job_statuses(status: str | None) -> list[str] | None:
    if not status:
        return None
    out = []
    for st in status.split(","):
        st = st.strip()
        if st == "done":
            out += ["complete", "failed", "killed"]
        elif st == "active":
            out += ["pending", "running", "blocked", "waiting"]
        elif st in JOB_STATUSES:
            out.append(st)
        else:
            raise ValidationError(
                f"status: {st!r} is not a job status ({', '.join(sorted(JOB_STATUSES))}, "
                "done, active)",
                field="status",
            )
    return out


class JobList(BaseModel):
    jobs: list[s.JobSummary]


@router.get("/jobs", tags=["jobs"], response_model=JobList)
async def list_jobs(
    request: Request,
    status: str | None = None,
    pgrp: OptionalId = None,
    label: str | None = None,
    user: str | None = None,
    name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
) -> Response:
    """Jobs, oldest first; ``status`` may be a comma list and include ``done`` / ``active``."""
    c = ctx(request)
    rows = await asyncio.to_thread(
        reads.list_jobs, c.store.engine, status=job_statuses(status), pgrp=pgrp, label=label,
        user=user, name=name, limit=limit, offset=offset,
    )  # fmt: skip
    await _add_stuck(c, rows)
    # A listing may hold 100,000 jobs: rows are encoded as they are (the store's columns are
    # the summary's fields), not through one model object each.
    body = await asyncio.to_thread(convert.job_list_json, rows)
    return Response(body, media_type="application/json")


@router.get("/jobs/{job_id}", response_model=s.JobDetail, tags=["jobs"])
async def get_job(request: Request, job_id: Id, agenda: bool = True) -> s.JobDetail:
    """A job, its instances and the first 1,000 items of its agenda (``agenda_truncated``
    when it has more: ``GET /jobs/{id}/work`` pages through them)."""
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_job, c.store.engine, job_id, agenda=agenda)
    if row is None:
        raise NoSuchJob(f"no such job {job_id}", field="job")
    await _add_stuck(c, [row])
    await _add_unmatched(c, row)
    return convert.job_detail(row)


async def _add_unmatched(c: Ctx, row: dict[str, Any]) -> None:
    """A pending job with requirements no host meets says so in its ``reason``; so does one
    whose preflights failed on every host that could run it (``engine.flights``)."""
    if placement.may_be_unmatched(row):
        why = await c.engine.acall(placement.unmatched, [row["id"]])
        row["reason"] = why.get(row["id"], "")
    if row["status"] == "pending" and not row["reason"]:  # (preflights failed everywhere)
        grounded = await c.engine.acall(flights.reasons, [row["id"]])
        row["reason"] = grounded.get(row["id"], "")


async def _add_stuck(c: Ctx, rows: list[dict[str, Any]]) -> None:
    """Set ``stuck`` on the rows of jobs that can no longer finish (asked of the engine, for
    the first ``STUCK_ASKED`` rows that may be such only: the engine answers on its thread)."""
    maybe = [r["id"] for r in rows if convert.may_be_stuck(r)][:STUCK_ASKED]
    if not maybe:
        return
    why = await c.engine.acall(stuck.reasons, maybe)
    for r in rows:
        r["stuck"] = why.get(r["id"], "")


@router.get("/jobs/{job_id}/work", response_model=s.WorkPage, tags=["jobs"])
async def list_work(
    request: Request,
    job_id: Id,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=reads.WORK_PAGE_MAX)] = 1000,
) -> s.WorkPage:
    """A page of a job's agenda, in agenda order: items ``offset`` to ``offset + limit - 1``
    (``total``: how many it has)."""
    c = ctx(request)
    page = await asyncio.to_thread(
        reads.list_work, c.store.engine, job_id, offset=offset, limit=limit
    )
    if page is None:
        raise NoSuchJob(f"no such job {job_id}", field="job")
    total, rows = page
    work = [convert.work_info(r) for r in rows]
    return s.WorkPage(work=work, offset=offset, limit=limit, total=total)


@router.get("/jobs/{job_id}/work/{name}", response_model=s.WorkInfo, tags=["jobs"])
async def get_work(request: Request, job_id: Id, name: str) -> s.WorkInfo:
    c = ctx(request)
    row = await asyncio.to_thread(reads.get_work, c.store.engine, job_id, name)
    if row is None:
        if await asyncio.to_thread(reads.get_job, c.store.engine, job_id, agenda=False) is None:
            raise NoSuchJob(f"no such job {job_id}", field="job")
        raise NoSuchItem(f"job {job_id} has no item {name}", field="work")
    return convert.work_info(row)


@router.post("/control", response_model=s.ControlResponse, tags=["control"])
async def control(request: Request, body: s.ControlRequest) -> s.ControlResponse:
    """kill, block, unblock, retry, requeue, remove, modify on ``J``, ``J.S`` or ``J:NAME``."""
    return await ctx(request).engine.acall(access.control, body, who(request))


@router.post("/jobs/{job_id}/{action}", response_model=s.ControlResponse, tags=["control"],
             openapi_extra=json_body(ref(ModifyRequest), required=False))  # fmt: skip
async def control_job(request: Request, job_id: Id, action: s.Action) -> s.ControlResponse:
    """One control verb on one job; ``modify`` takes ``{"fields": {...}}``."""
    body = await json_of(request, optional=True)
    try:
        fields = ModifyRequest.model_validate(body or {}).fields
    except pydantic.ValidationError as exc:
        raise invalid(exc) from None
    req = s.ControlRequest(action=action, targets=[str(job_id)], fields=fields)
    return await ctx(request).engine.acall(access.control, req, who(request))


@router.get("/jobs/{job_id}/callbacks", tags=["callbacks"])
async def job_callbacks(
    request: Request, job_id: Id, runs: Annotated[int, Query(ge=0, le=100_000)] = 1000
) -> dict[str, Any]:
    """A job's callbacks (triggers, language, code, count, latches) and their last runs."""
    c = ctx(request)
    if await asyncio.to_thread(reads.get_job, c.store.engine, job_id, agenda=False) is None:
        raise NoSuchJob(f"no such job {job_id}", field="job")
    cbs = await asyncio.to_thread(reads.list_callbacks, c.store.engine, job_id)
    ran = await asyncio.to_thread(reads.list_runs, c.store.engine, job=job_id, limit=runs)
    return {"callbacks": cbs, "runs": ran if runs else []}


@router.get("/callbacks", tags=["callbacks"])
async def global_callbacks(
    request: Request, runs: Annotated[int, Query(ge=0, le=100_000)] = 1000
) -> dict[str, Any]:
    """The global (site-wide) callbacks and their last runs."""
    c = ctx(request)
    cbs = await asyncio.to_thread(reads.list_callbacks, c.store.engine, None)
    ran = [] if not runs else await asyncio.to_thread(
        reads.list_runs, c.store.engine, job=None, limit=runs, global_only=True
    )  # fmt: skip
    return {"callbacks": cbs, "runs": ran}


@router.get("/callbacks/universal", tags=["callbacks"])
async def universal_callbacks(request: Request) -> dict[str, Any]:
    """The universal callbacks: the good lines of each callbacks.conf and the bad ones, with
    why (the conf is re-read first if it changed)."""
    conf = await asyncio.to_thread(ctx(request).universal.current)
    return conf.to_dict()


@router.post("/callbacks/universal/reload", tags=["callbacks"])
async def reload_universal_callbacks(request: Request) -> dict[str, Any]:
    """Re-read every callbacks.conf now (admin); the answer is what GET /callbacks/universal
    gives."""
    who(request).require(ADMIN, "reloading the universal callbacks")
    conf = await asyncio.to_thread(ctx(request).universal.reload)
    return conf.to_dict()


@router.post("/callbacks", status_code=201, tags=["callbacks"],
             openapi_extra=json_body(ref(CallbackSpec)))  # fmt: skip
async def add_global_callback(request: Request) -> dict[str, Any]:
    """Add a global callback: ``{"triggers", "language": "python", "code", "maximum"?}``."""
    me = who(request)
    me.require(SUBMIT_GLOBAL_CALLBACK, "adding a global callback")
    spec = _callback_spec(await json_of(request))
    cb = await ctx(request).engine.acall(cbx.add_global, spec, me.name)
    return {"id": cb.id, "triggers": cb.triggers, "language": cb.language}


@router.delete("/callbacks/{callback_id}", tags=["callbacks"])
async def remove_global_callback(request: Request, callback_id: Id) -> dict[str, Any]:
    who(request).require(SUBMIT_GLOBAL_CALLBACK, "removing a global callback")
    await ctx(request).engine.acall(access.remove_global, callback_id, who(request))
    return {"removed": callback_id}


def _callback_spec(body: Any) -> CallbackSpec:
    try:
        return CallbackSpec.model_validate(body)
    except pydantic.ValidationError as exc:
        raise invalid(exc) from None


async def hosts_now(c: Ctx) -> list[s.HostInfo]:
    """Every host, by name: its row (one read) with the engine's newer view of its state,
    heartbeat, slots and attempts (what runs on it), taken from the engine's memory."""
    rows = await asyncio.to_thread(reads.list_hosts, c.store.engine)
    live = {h.name: h for h in list(c.engine.state.hosts.values())}
    out = []
    for r in rows:
        h = live.get(r["name"])
        attempts = list(h.attempts.values()) if h is not None else []
        if h is not None:  # the engine's view is newer than the periodically flushed row
            r.update(state=h.state, last_seen=h.last_seen, slots=h.slots)
            r.update(locked_by=h.locked_by, locked_at=h.locked_at, jobtypes=sorted(h.jobtypes))
        used = len(attempts) + (h.extra if h is not None else 0)  # (reservations: slots)
        info = convert.host_info(r, used)
        if h is not None:
            info.facts = host_facts(h, h.slots - used)
            info.check = h.check
        info.running = sorted(
            (s.RunningItem(job=a.job_id, subjob=a.subid, item=a.work) for a in attempts),
            key=lambda x: (x.job, x.subjob, x.item or ""),
        )
        out.append(info)
    return out


@router.get("/hosts", tags=["hosts"])
async def list_hosts(request: Request) -> dict[str, list[s.HostInfo]]:
    """Every host: state, slots (``used`` of them busy), properties, last heartbeat
    (``last_seen``), ``running``, what runs on it now (job, instance, agenda item), its lock
    (``locked``, ``locked_by``, ``locked_at``) and ``facts``, its properties under Qube's
    names (``host.processors``, ``host.memory.avail`` in MB, ``host.gpu``, ...)."""
    return {"hosts": await hosts_now(ctx(request))}


def event_types(type_: str | None) -> list[str] | None:
    """The ``type`` filter of an events request (a comma list), checked."""
    types = [x.strip() for x in type_.split(",") if x.strip()] if type_ else None
    for x in types or ():
        if x not in EVENT_TYPES:
            raise ValidationError(
                f"type: {x!r} is not an event type ({', '.join(EVENT_TYPES)})", field="type"
            )
    return types


async def read_events(
    c: Ctx, after: int, limit: int, job: int | None, types: list[str] | None
) -> list[dict[str, Any]]:
    """Committed events after ``after``: from the hub's memory near the head, else the store."""
    rows = c.hub.recent(after, limit, job, types)
    if rows is None:
        rows = await asyncio.to_thread(
            reads.list_events, c.store.engine, after=after, limit=limit, job=job, types=types
        )
    return rows


@router.get("/events", response_model=s.EventsResponse, tags=["events"])
async def events(
    request: Request,
    after: Seq = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    job: OptionalId = None,
    type: str | None = None,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> s.EventsResponse:
    """Events after sequence number ``after``; ``wait`` long-polls for new ones.

    ``type`` keeps only events of these types (comma list of job, subjob, work, host,
    callback, and the time types time, repeat, globaltime, globalrepeat). ``before`` (a
    seq) reads backwards: the newest ``limit`` events below it, still oldest first (pass
    the first one's seq as the next ``before``); it cannot be combined with ``wait``.
    """
    c = ctx(request)
    types = event_types(type)
    if before is not None:
        return await _events_before(c, after, before, limit, job, types, wait)
    jobs_only = types == ["job"]
    deadline = time.monotonic() + wait
    while True:
        changed = c.hub.events_changed(jobs_only=jobs_only)
        rows = await read_events(c, after, limit, job, types)
        left = deadline - time.monotonic()
        if rows or left <= 0 or c.hub.closing:
            break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(left):
                await changed.wait()
    last = rows[-1]["seq"] if rows else max(after, c.hub.event_seq if job is None else after)
    head = max(c.hub.event_seq, last)
    return s.EventsResponse(events=[convert.event_info(r) for r in rows], last=last, head=head)


async def _events_before(
    c: Ctx, after: int, before: int, limit: int, job: int | None, types: list[str] | None,
    wait: float,
) -> s.EventsResponse:  # fmt: skip
    """``GET /events?before=``: the newest events below ``before``, oldest first."""
    if wait:
        raise ValidationError("wait: cannot be combined with before", field="wait")
    rows = await asyncio.to_thread(
        reads.list_events, c.store.engine, after=after, limit=limit, job=job, types=types,
        before=before,
    )  # fmt: skip
    last = rows[-1]["seq"] if rows else after
    return s.EventsResponse(
        events=[convert.event_info(r) for r in rows], last=last, head=max(c.hub.event_seq, last)
    )


LOG_HEADERS = {
    "X-Triggerfish-Status": "the item's status now (a follower stops once it has ended)",
    "X-Triggerfish-Log-Offset": "where the next read starts (bytes): pass it as offset",
    "X-Triggerfish-Log-Size": "the log's size in bytes (more to read while it is bigger)",
}
LOG_DOC = """Output of an agenda item or instance, from byte ``offset`` (at most 4 MiB a read).

Empty for one that started but printed nothing to ``stream``; 404 with code ``no_such_job``,
``no_such_item`` or ``not_started``. The headers tell the item's status and where to read on
(see ``X-Triggerfish-*``), for ``triggerfish logs --follow``."""


async def _log(
    c: Ctx, job_id: int, work: str | None, subid: int, stream: str, offset: int
) -> PlainTextResponse:
    if stream not in ("stdout", "stderr"):
        raise ValidationError("stream: expected stdout or stderr", field="stream")
    item = await asyncio.to_thread(
        find_item, c.store.engine, job_id, work, None if work is not None else subid
    )
    unit = c.logs.unit(work, subid)
    page = await asyncio.to_thread(c.logs.read, job_id, unit, stream, offset)
    if not page.size and not item.started and not c.logs.exists(job_id, unit):
        raise await asyncio.to_thread(not_started, c.store.engine, job_id, item)
    headers = {
        "X-Triggerfish-Status": item.status,
        "X-Triggerfish-Log-Offset": str(page.end),
        "X-Triggerfish-Log-Size": str(page.size),
    }
    return PlainTextResponse(page.text, headers=headers)


_LOG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": {k: {"description": v, "schema": {"type": "string"}}
                      for k, v in LOG_HEADERS.items()}},
}  # fmt: skip
LogOffset = Annotated[int, Query(ge=0, le=2**62, description="byte offset to read from")]


@router.get("/jobs/{job_id}/work/{name}/log", response_class=PlainTextResponse, tags=["logs"],
            responses=_LOG_RESPONSES, description=LOG_DOC)  # fmt: skip
async def work_log(request: Request, job_id: Id, name: str, stream: str = "stdout",
                   offset: LogOffset = 0) -> PlainTextResponse:  # fmt: skip
    return await _log(ctx(request), job_id, name, 0, stream, offset)


@router.get("/jobs/{job_id}/subjobs/{subid}/log", response_class=PlainTextResponse,
            tags=["logs"], responses=_LOG_RESPONSES, description=LOG_DOC)  # fmt: skip
async def subjob_log(request: Request, job_id: Id, subid: SubId, stream: str = "stdout",
                     offset: LogOffset = 0) -> PlainTextResponse:  # fmt: skip
    return await _log(ctx(request), job_id, None, subid, stream, offset)
