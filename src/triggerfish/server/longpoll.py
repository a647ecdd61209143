"""A worker's pull: work for its free slots now, or as soon as some comes, up to ``wait`` s.

With nothing to hand out, the pull is parked in the engine (``engine.parking``) and answered
from the batch that makes work for the host, with that batch's commit.

``lost`` (when the server can tell) resolves when the pull's connection breaks before its
answer: the worker may have died. The pull is taken back at once (it takes no more work) and
the host is suspected gone (``engine.hosts``).
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import Receive

from triggerfish.api import schemas as s
from triggerfish.engine import hosts, parking, workers
from triggerfish.server.context import Ctx


async def long_pull(
    c: Ctx, host: str, body: s.PullRequest, lost: asyncio.Future[None] | None = None
) -> s.PullResponse:
    arrived = time.time()
    if body.wait <= 0 or c.hub.closing:
        return await c.engine.acall_here(workers.pull, host, body, arrived)
    parked = c.engine.reply_here()
    fut = parked.fut
    assert fut is not None
    resp = await c.engine.acall_here(parking.pull_or_park, host, body, arrived, parked)
    if resp is not None:
        if lost is not None and lost.done():  # it went away while the engine took it
            await c.engine.acall_here(hosts.pull_lost, host, body.session, None)
        return resp
    c.hub.parked.add(fut)
    try:
        await asyncio.wait([fut] if lost is None else [fut, lost], timeout=body.wait,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    except asyncio.CancelledError:  # the server is going down without waiting
        c.engine.begin_here(parking.unpark, (host, body, arrived, parked), _ignore)
        raise
    finally:
        c.hub.parked.discard(fut)
    if lost is not None and lost.done():  # nobody reads the answer any more
        await c.engine.acall_here(hosts.pull_lost, host, body.session, parked)
        return s.PullResponse()
    if fut.done() and not fut.cancelled():
        return _response(fut.result())
    if c.hub.closing:  # (``Hub.close`` cancelled it) answer now, take it back on the side
        c.engine.begin_here(parking.unpark, (host, body, arrived, parked), _ignore)
        return s.PullResponse()
    resp = await c.engine.acall_here(parking.unpark, host, body, arrived, parked)
    if resp is not None:
        return resp
    return _response(await fut)  # served meanwhile: the answer comes with that commit


async def disconnected(receive: Receive) -> None:
    """Until the ASGI connection of ``receive`` (whose body is read) reports
    ``http.disconnect``; never, if reading fails otherwise (a doubt is no loss)."""
    try:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
    except Exception:  # not knowing is not a disconnect
        await asyncio.Event().wait()


def _response(value: object) -> s.PullResponse:
    assert isinstance(value, s.PullResponse)
    return value


def _ignore(_value: object, _exc: BaseException | None) -> None:
    pass
