"""A worker's pull: work for its free slots now, or as soon as some comes, up to ``wait`` s."""

from __future__ import annotations

import asyncio
import time

from triggerfish.api import schemas as s
from triggerfish.engine import workers
from triggerfish.server.context import Ctx


async def long_pull(c: Ctx, host: str, body: s.PullRequest) -> s.PullResponse:
    """Run the pull; with nothing to do, wait for the host's wake-up (a commit that made work
    available to it) and run it again, until ``body.wait`` seconds have passed."""
    arrived = time.time()
    deadline = time.monotonic() + body.wait
    while True:
        ev = c.hub.host_event(host)
        ev.clear()
        resp = await c.engine.acall_here(workers.pull, host, body, arrived)
        left = deadline - time.monotonic()
        if resp.assignments or resp.cancel or left <= 0 or c.hub.closing:
            return resp
        try:
            async with asyncio.timeout(left):
                await ev.wait()
        except TimeoutError:
            return resp
