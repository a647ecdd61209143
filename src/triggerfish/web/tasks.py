"""Tasks and schedules (``/tasks``): the recurring tasks with their next and last run, and the
recent tasks a page at a time, live.

Both tables are one server-rendered fragment (``/rows/tasks``) that ``static/app.js``
(``liveBox``) fetches again when job events come (a task is a job) and after a button did
its work. The
data is what ``GET /api/v1/schedules`` and ``GET /api/v1/tasks`` answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.server.params import OptionalId
from triggerfish.server.routes_tasks import list_schedules, list_tasks
from triggerfish.web import show
from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)
PAGE = 50  # tasks a page shows


async def _tables(request: Request, before: int | None) -> dict[str, Any]:
    """What the two tables show: every schedule, and the page of tasks below ``before``."""
    schedules = (await list_schedules(request)).schedules
    tasks = (await list_tasks(request, status=None, limit=PAGE + 1, before=before)).tasks
    older = tasks[PAGE - 1].id if len(tasks) > PAGE else None
    return {"schedules": schedules, "tasks": tasks[:PAGE], "before": before, "older": older,
            "page": PAGE, "show": show}  # fmt: skip


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, principal: Viewer, before: OptionalId = None) -> Response:
    return render(request, "tasks.html", principal, **await _tables(request, before))


@router.get("/rows/tasks", response_class=HTMLResponse)
async def task_rows(request: Request, principal: Viewer, before: OptionalId = None) -> Response:
    """The two tables alone, for the page to swap in."""
    return render(request, "tasks_rows.html", principal, **await _tables(request, before))
