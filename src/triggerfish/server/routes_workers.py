"""Routes for workers: register, pull (long poll + heartbeat), report, log chunks."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request

from triggerfish.api import schemas as s
from triggerfish.engine import workers
from triggerfish.server.context import ctx

router = APIRouter(prefix="/api/v1/workers", tags=["workers"])


@router.post("/register", response_model=s.RegisterResponse)
async def register(request: Request, body: s.RegisterRequest) -> s.RegisterResponse:
    return await ctx(request).engine.acall(workers.register, body)


@router.post("/{host}/pull", response_model=s.PullResponse)
async def pull(request: Request, host: str, body: s.PullRequest) -> s.PullResponse:
    """Work for the host's free slots, and tokens to cancel; waits up to ``wait`` seconds."""
    c = ctx(request)
    arrived = time.time()
    deadline = time.monotonic() + body.wait
    while True:
        ev = c.hub.host_event(host)
        ev.clear()
        resp = await c.engine.acall(workers.pull, host, body, arrived)
        left = deadline - time.monotonic()
        if resp.assignments or resp.cancel or left <= 0:
            return resp
        try:
            await asyncio.wait_for(ev.wait(), left)
        except TimeoutError:
            return resp


@router.post("/{host}/report", response_model=s.ReportResponse)
async def report(request: Request, host: str, body: s.ReportRequest) -> s.ReportResponse:
    return await ctx(request).engine.acall(workers.report, host, body)


@router.post("/{host}/log")
async def log(request: Request, host: str, body: s.LogChunk) -> dict[str, bool]:
    """Append output of a running attempt; chunks of stale attempts are dropped."""
    c = ctx(request)
    a = c.engine.state.attempts.get(body.token)
    h = c.engine.state.hosts.get(host)
    if a is None or a.host != host or h is None or h.session != body.session:
        return {"accepted": False}
    unit = c.logs.unit(a.work, a.subid)
    await asyncio.to_thread(c.logs.append, a.job_id, unit, body.stream, body.token, host, body.data)
    return {"accepted": True}
