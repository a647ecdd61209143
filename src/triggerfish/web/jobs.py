"""The jobs table (``/``) and its rows as a fragment (``/rows/jobs``) for live updates.

The page is rendered on the server, a page of :data:`joblist.PAGE` jobs newest first;
``static/jobs.js`` follows the job events and asks ``/rows/jobs`` for the rows that changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.auth.permissions import Principal
from triggerfish.errors import ValidationError
from triggerfish.model.status import JOB_STATUSES, TALLY_KEYS, TERMINAL
from triggerfish.server.context import ctx
from triggerfish.server.routes_jobs import job_statuses
from triggerfish.store.changes import Row
from triggerfish.web import joblist
from triggerfish.web.render import Viewer, render, templates

router = APIRouter(include_in_schema=False)
FILTERS = ("status", "user", "label", "pgrp", "name")
# the status filter's choices: the two groups, then each job status in display order
STATUS_CHOICES = ("active", "done", *(k for k in TALLY_KEYS if k in JOB_STATUSES))


def parse_filter(query: Mapping[str, str]) -> tuple[joblist.JobFilter, list[str]]:
    """The filters of a request's query (empty fields: no filter), and what was wrong in
    them (such a filter is left out)."""
    errors: list[str] = []
    status = None
    try:
        status = job_statuses(query.get("status", "").strip() or None)
    except ValidationError as exc:
        errors.append(exc.message)
    pgrp = None
    raw = query.get("pgrp", "").strip()
    if raw.isdigit():
        pgrp = int(raw)
    elif raw:
        errors.append(f"pgrp: {raw!r} is not a number")
    text = {k: query.get(k, "").strip() or None for k in ("user", "label", "name")}
    return joblist.JobFilter(status=status, pgrp=pgrp, **text), errors


def _id(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key, "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _ids(raw: str) -> list[int]:
    """``1,2,3`` → [1, 2, 3] (what is not an id is skipped)."""
    return [int(x) for x in raw.split(",") if x.strip().isdigit() and len(x.strip()) < 12]


def age_text(t: float | None, now: float) -> str:
    """What ``tf.age`` shows (the page's script keeps it current)."""
    if t is None:
        return "-"
    s = max(0.0, now - t)
    for limit, unit, name in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "h")):
        if s < limit:
            return f"{int(s // unit)} {name}"
    return f"{int(s // 86400)} d"


def row_view(r: Row, who: Principal, now: float) -> dict[str, Any]:
    """What ``_jobrow.html`` shows of a job's row: progress, age, the controls ``who`` has."""
    tally = r["todotally"] or {}
    total = int(r["todo"])
    done, running = int(tally.get("complete", 0)), int(tally.get("running", 0))
    bad = int(tally.get("failed", 0)) + int(tally.get("killed", 0))
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    mine = who.may_act_on(r["user"])
    return {
        **r, "total": total, "done": done, "bad": bad, "running": running,
        "bar": {"complete": pct(done), "failed": pct(bad), "running": pct(running)},
        "age": age_text(r["timesubmit"], now),
        "can_kill": mine and r["status"] not in TERMINAL,
        "can_retry": mine and (r["status"] in TERMINAL or bad > 0),
    }  # fmt: skip


@router.get("/", response_class=HTMLResponse)
async def jobs_page(request: Request, principal: Viewer) -> Response:
    """The jobs table: a page of jobs, newest first, filtered by the form's fields."""
    q = request.query_params
    filt, errors = parse_filter(q)
    engine = ctx(request).store.engine
    pg = await asyncio.to_thread(
        joblist.page, engine, filt, before=_id(q, "before"), after=_id(q, "after")
    )
    now = time.time()
    form = {k: q.get(k, "").strip() for k in FILTERS}
    filters = urlencode({k: v for k, v in form.items() if v})
    return render(request, "jobs.html", principal,
                  rows=[row_view(r, principal, now) for r in pg.rows], page=pg, form=form,
                  filters=filters, errors=errors, choices=STATUS_CHOICES,
                  size=joblist.PAGE, filtered=not filt.empty)  # fmt: skip


@router.get("/rows/jobs", response_class=HTMLResponse)
async def job_rows(request: Request, principal: Viewer) -> Response:
    """The rows of jobs ``ids`` (those that still exist), and of jobs ``new`` that pass the
    page's filters (the same query fields as ``/``): ``<tr>`` elements, newest first."""
    q = request.query_params
    filt, _ = parse_filter(q)
    found = await asyncio.to_thread(
        joblist.rows, ctx(request).store.engine, _ids(q.get("ids", "")),
        _ids(q.get("new", "")), filt,
    )  # fmt: skip
    now = time.time()
    return templates.TemplateResponse(
        request, "_jobrows.html",
        {"rows": [row_view(r, principal, now) for r in found]},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip
