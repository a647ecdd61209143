"""The jobs table (``/``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def jobs_page(request: Request, principal: Viewer) -> Response:
    return render(request, "jobs.html", principal)

