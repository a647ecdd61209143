"""Routes for workers: register, pull (long poll + heartbeat), report, log chunks.

They need a worker token (or an admin's): a user's token cannot act as a worker.

These are the hot path (one report per frame), so bodies are parsed and answers written with
pydantic's JSON codec directly rather than through FastAPI's generic validation and encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, TypeVar

import pydantic
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError

from triggerfish.api import schemas as s
from triggerfish.engine import hosts, workers
from triggerfish.model.text import suspect
from triggerfish.server.auth import require_worker
from triggerfish.server.context import ctx
from triggerfish.server.failures import dump_json
from triggerfish.server.longpoll import long_pull
from triggerfish.server.openapi import json_body, ref

router = APIRouter(
    prefix="/api/v1/workers", tags=["workers"], dependencies=[Depends(require_worker)]
)
M = TypeVar("M", bound=pydantic.BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        if suspect(raw):  # a lone surrogate, which pydantic's JSON refuses: a report's text
            with contextlib.suppress(ValueError):  # is replaced (``Report``), not refused
                return model.model_validate(json.loads(raw))
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None


def _json(model: pydantic.BaseModel) -> Response:
    return Response(dump_json(model), media_type="application/json")


def _doc(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return json_body(ref(model))


@router.post("/register", response_model=s.RegisterResponse, openapi_extra=_doc(s.RegisterRequest))
async def register(request: Request) -> Response:
    body = await _body(request, s.RegisterRequest)
    return _json(await ctx(request).engine.acall(workers.register, body))


@router.post("/{host}/pull", response_model=s.PullResponse, openapi_extra=_doc(s.PullRequest))
async def pull(request: Request, host: str) -> Response:
    """Work for the host's free slots, and tokens to cancel; waits up to ``wait`` seconds."""
    body = await _body(request, s.PullRequest)
    return _json(await long_pull(ctx(request), host, body))


@router.post("/{host}/report", response_model=s.ReportResponse, openapi_extra=_doc(s.ReportRequest))
async def report(request: Request, host: str) -> Response:
    """Finished attempts; the answer carries the host's next work."""
    body = await _body(request, s.ReportRequest)
    return _json(await ctx(request).engine.acall_here(workers.report, host, body))


@router.post("/{host}/signoff", openapi_extra=_doc(s.SignOffRequest))
async def signoff(request: Request, host: str) -> dict[str, bool]:
    """The worker stops: its host is down at once and takes no more work; with ``final``
    (its commands stopped, its last reports sent) what it still holds goes back to pending."""
    body = await _body(request, s.SignOffRequest)
    await ctx(request).engine.acall(hosts.sign_off, host, body)
    return {"signed_off": True}


@router.post("/{host}/log", openapi_extra=_doc(s.LogChunk))
async def log(request: Request, host: str) -> dict[str, bool]:
    """Append output of a running attempt; chunks of stale attempts are dropped."""
    c = ctx(request)
    body = await _body(request, s.LogChunk)
    h = c.engine.state.hosts.get(host)
    # a lookahead attempt may send output before the end of the one before it is processed
    a = c.engine.state.attempts.get(body.token) or (h.reserved.get(body.token) if h else None)
    if a is None or a.host != host or h is None or h.session != body.session:
        return {"accepted": False}
    unit = c.logs.unit(a.work, a.subid)
    await asyncio.to_thread(c.logs.append, a.job_id, unit, body.stream, body.token, host, body.data)
    return {"accepted": True}
