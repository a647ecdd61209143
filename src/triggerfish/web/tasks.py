"""Tasks and schedules (``/tasks``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, principal: Viewer) -> Response:
    return render(request, "tasks.html", principal)
