"""The live event stream (``/events``): the latest events of the log, newest first, filtered
by job, type and text, then followed as they are committed.

The page is a frame: ``static/events.js`` reads the first rows from ``GET /api/v1/events`` and
follows ``GET /api/v1/events/stream`` with the same filters. The filters are the page's query
(``?job=&type=&q=``), so that a link can open the page filtered.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerfish.server.params import OptionalId
from triggerfish.server.routes_jobs import EVENT_TYPES
from triggerfish.web.render import Viewer, render

router = APIRouter(include_in_schema=False)
SHOWN = 500  # rows the page keeps (the oldest go as new ones come)


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request, principal: Viewer, job: OptionalId = None, type: str = "", q: str = ""
) -> Response:
    chosen = type if type in EVENT_TYPES else ""
    return render(request, "events.html", principal, types=EVENT_TYPES, job=job, type=chosen,
                  q=q[:200], shown=SHOWN)  # fmt: skip
