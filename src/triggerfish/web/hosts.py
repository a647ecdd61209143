"""The hosts page (``/hosts``): every host, its slots and what runs on it, live.

The table is one server-rendered fragment (``/rows/hosts``) that ``static/app.js``
(``liveBox``) fetches again when the event stream tells of host, instance or agenda-item
events. The data is what
``GET /api/v1/hosts`` answers (``routes_jobs.hosts_now``), and under it the global resources of
``GET /api/v1/resources``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.engine import resources
from triggerfish.server.context import ctx
from triggerfish.server.routes_jobs import hosts_now
from triggerfish.web import show
from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)
RUNNING_SHOWN = 8  # items listed in a host's "running" cell (the rest counted)


async def _view(request: Request) -> dict[str, Any]:
    """The hosts, and the global resources (licenses) with what running work uses."""
    c = ctx(request)
    return {"hosts": await hosts_now(c), "resources": await c.engine.acall(resources.listing),
            "show": show, "running_shown": RUNNING_SHOWN}  # fmt: skip


@router.get("/hosts", response_class=HTMLResponse)
async def hosts_page(request: Request, principal: Viewer) -> Response:
    return render(request, "hosts.html", principal, **await _view(request))


@router.get("/rows/hosts", response_class=HTMLResponse)
async def host_rows(request: Request, principal: Viewer) -> Response:
    """The hosts table (and the resources) alone, for the page to swap in."""
    return render(request, "hosts_rows.html", principal, **await _view(request))
