"""A worker's pull: work for its free slots now, or as soon as some comes, up to ``wait`` s.

With nothing to hand out, the pull is parked in the engine (``engine.parking``) and answered
from the batch that makes work for the host, with that batch's commit.
"""

from __future__ import annotations

import asyncio
import time

from triggerfish.api import schemas as s
from triggerfish.engine import parking, workers
from triggerfish.server.context import Ctx


async def long_pull(c: Ctx, host: str, body: s.PullRequest) -> s.PullResponse:
    arrived = time.time()
    if body.wait <= 0 or c.hub.closing:
        return await c.engine.acall_here(workers.pull, host, body, arrived)
    parked = c.engine.reply_here()
    fut = parked.fut
    assert fut is not None
    resp = await c.engine.acall_here(parking.pull_or_park, host, body, arrived, parked)
    if resp is not None:
        return resp
    c.hub.parked.add(fut)
    try:
        await asyncio.wait([fut], timeout=body.wait)
    except asyncio.CancelledError:  # the server is going down without waiting
        c.engine.begin_here(parking.unpark, (host, body, arrived, parked), _ignore)
        raise
    finally:
        c.hub.parked.discard(fut)
    if fut.done() and not fut.cancelled():
        return _response(fut.result())
    if c.hub.closing:  # (``Hub.close`` cancelled it) answer now, take it back on the side
        c.engine.begin_here(parking.unpark, (host, body, arrived, parked), _ignore)
        return s.PullResponse()
    resp = await c.engine.acall_here(parking.unpark, host, body, arrived, parked)
    if resp is not None:
        return resp
    return _response(await fut)  # served meanwhile: the answer comes with that commit


def _response(value: object) -> s.PullResponse:
    assert isinstance(value, s.PullResponse)
    return value


def _ignore(_value: object, _exc: BaseException | None) -> None:
    pass
