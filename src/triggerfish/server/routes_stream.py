"""``GET /api/v1/events/stream``: the event log as Server-Sent Events, for the web page (and
any client that would rather keep one connection open than long-poll ``/events``).

Each message carries the events committed since the last one, as a JSON list, with the seq
of the last as its ``id``: a browser's ``EventSource`` that reconnects sends it back as
``Last-Event-ID`` and misses nothing. Without ``after`` (or ``Last-Event-ID``) the stream
starts at the head of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from triggerfish.server import convert
from triggerfish.server.context import Ctx, ctx
from triggerfish.server.params import OptionalId
from triggerfish.server.routes_jobs import event_types, read_events

router = APIRouter(prefix="/api/v1", tags=["events"])
KEEPALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)
BATCH = 1000  # events at most in one message


async def _messages(
    c: Ctx, after: int, job: int | None, types: list[str] | None
) -> AsyncIterator[bytes]:
    jobs_only = types == ["job"]
    yield b"retry: 1000\n\n"
    while not c.hub.closing:
        changed = c.hub.events_changed(jobs_only=jobs_only)
        head = c.hub.event_seq  # committed: the read below sees every event up to it
        rows = await read_events(c, after, BATCH, job, types)
        if rows:
            after = rows[-1]["seq"]
            data = orjson.dumps([convert.event_info(r).model_dump() for r in rows])
            yield b"id: %d\ndata: %s\n\n" % (after, data)
            continue
        after = max(after, head)  # none of those matched: not read again
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(KEEPALIVE):
                await changed.wait()
                continue
        yield b": keepalive\n\n"


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-Sent Events: `data` a JSON list of events"}},
)  # fmt: skip
async def stream(
    request: Request,
    after: Annotated[int | None, Query(ge=0)] = None,
    job: OptionalId = None,
    type: str | None = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Events as they are committed (Server-Sent Events), after ``after`` or the
    ``Last-Event-ID`` header (a reconnecting ``EventSource``), else from now; ``job`` and
    ``type`` filter as in ``GET /events``."""
    c = ctx(request)
    types = event_types(type)
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = c.hub.event_seq
    return StreamingResponse(
        _messages(c, start, job, types),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
