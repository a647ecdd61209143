"""A job's page (``/jobs/{id}``): its fields and instances, the frame grid, an item's logs,
its callbacks and events, its pgrp's dependency graph and the controls the user may use.

The frame is rendered here; ``static/job.js`` draws the grid from
``GET /api/v1/jobs/{id}/statuses``, follows the event stream and fetches the parts of the
page again (``/jobs/{id}/part/{part}``, the same templates) when the job changes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.auth.permissions import Principal
from triggerfish.engine import placement, stuck
from triggerfish.server import convert
from triggerfish.server.context import Ctx, ctx
from triggerfish.server.params import Id
from triggerfish.store import jobreads, reads
from triggerfish.web.graph import MAX_NODES, Graph, layout
from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)
Part = Literal["fields", "subjobs", "callbacks", "graph"]
RUNS = 50  # callback runs the page lists (the newest)
EVENTS = 200  # events the page starts with (the newest)
ACTIONS = ("kill", "block", "unblock", "retry", "requeue")


def when(t: float | None) -> str:
    """A time of the store as the page shows it (UTC), '' for none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) if t else ""


async def _job(c: Ctx, job_id: int) -> dict[str, Any] | None:
    """The job and its instances (not its agenda: the grid reads that), with ``stuck``."""
    row = await asyncio.to_thread(reads.get_job, c.store.engine, job_id, agenda=False)
    if row is not None and convert.may_be_stuck(row):
        row["stuck"] = (await c.engine.acall(stuck.reasons, [job_id])).get(job_id, "")
    if row is not None and placement.may_be_unmatched(row):
        row["reason"] = (await c.engine.acall(placement.unmatched, [job_id])).get(job_id, "")
    return row


async def _callbacks(c: Ctx, job_id: int) -> dict[str, Any]:
    """The job's callbacks and its newest runs, newest first."""
    cbs = await asyncio.to_thread(reads.list_callbacks, c.store.engine, job_id)
    runs = await asyncio.to_thread(reads.list_runs, c.store.engine, job=job_id, limit=RUNS)
    return {"callbacks": cbs, "runs": runs[::-1]}


async def _graph(c: Ctx, job: dict[str, Any]) -> Graph:
    """The graph of the job's pgrp (its first ``MAX_NODES`` jobs)."""
    jobs = await asyncio.to_thread(
        reads.list_jobs, c.store.engine, pgrp=job["pgrp"], limit=MAX_NODES + 1
    )
    more = len(jobs) > MAX_NODES
    jobs = jobs[:MAX_NODES]
    cbs = await asyncio.to_thread(jobreads.pgrp_callbacks, c.store.engine, [j["id"] for j in jobs])
    return layout(jobs, cbs, job["id"], more=int(more))


async def _context(c: Ctx, job: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any]:
    """What the templates of ``parts`` need besides the job."""
    out: dict[str, Any] = {"job": job, "fields": job["fields"] or {}, "when": when}
    if "callbacks" in parts:
        out.update(await _callbacks(c, job["id"]))
    if "graph" in parts:
        out["graph"] = await _graph(c, job)
    if "events" in parts:
        out["events"] = await asyncio.to_thread(
            jobreads.newest_events, c.store.engine, job["id"], EVENTS
        )
    return out


def _missing(request: Request, principal: Principal, job_id: int) -> Response:
    """The page of a job that does not exist (404)."""
    return render(request, "job_missing.html", principal, 404, job_id=job_id)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, principal: Viewer, job_id: Id) -> Response:
    """The whole page: what the store holds now, and the event seq to follow it from."""
    c = ctx(request)
    seq = c.hub.event_seq  # the page shows what was committed up to here: follow from it
    job = await _job(c, job_id)
    if job is None:
        return _missing(request, principal, job_id)
    context = await _context(c, job, ("callbacks", "graph", "events"))
    return render(request, "job.html", principal, seq=seq, actions=ACTIONS,
                  may_act=principal.may_act_on(job["user"]), **context)  # fmt: skip


@router.get("/jobs/{job_id}/part/{part}", response_class=HTMLResponse)
async def job_part(request: Request, principal: Viewer, job_id: Id, part: Part) -> Response:
    """One part of the page again (after a change the event stream told of)."""
    c = ctx(request)
    job = await _job(c, job_id)
    if job is None:
        return _missing(request, principal, job_id)
    context = await _context(c, job, (part,))
    return render(request, f"job/_{part}.html", principal, **context)
