"""A job's page (``/jobs/{id}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, principal: Viewer, job_id: int) -> Response:
    return render(request, "job.html", principal, job_id=job_id)
