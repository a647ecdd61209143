"""Routes that act on hosts (admin only): mark one down, lock or unlock one, forget one.

(``GET /api/v1/hosts`` lists them, for anyone: ``routes_jobs``.)
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import ADMIN
from triggerfish.engine import hostlock, hosts
from triggerfish.server.auth import who
from triggerfish.server.context import ctx


async def require_admin(request: Request) -> None:
    who(request).require(ADMIN, "acting on hosts")


router = APIRouter(prefix="/api/v1/hosts", tags=["hosts"], dependencies=[Depends(require_admin)])


@router.post("/{name}/down", response_model=s.HostInfo)
async def mark_down(request: Request, name: str) -> s.HostInfo:
    """Mark a host down now (its worker is known dead): its running work goes back to
    pending, each attempt counted with a ``retry`` event. A worker that still lives is up
    again at its next pull, its old attempts cancelled."""
    return await ctx(request).engine.acall(hosts.mark_down, name)


@router.delete("/{name}", response_model=s.HostInfo)
async def remove(request: Request, name: str) -> s.HostInfo:
    """Forget a host that is down and holds no attempt (409 otherwise; 404 if unknown)."""
    return await ctx(request).engine.acall(hosts.remove, name)


@router.post("/{name}/lock", response_model=s.HostInfo)
async def lock(request: Request, name: str) -> s.HostInfo:
    """Lock a host: no new work goes to it (what runs on it finishes; what was held ahead for
    it goes back to pending). Stored: it stays locked across restarts until unlocked. A
    ``lock`` host event; locking a locked host changes nothing (404 if unknown)."""
    return await ctx(request).engine.acall(hostlock.lock, name, who(request).name)


@router.post("/{name}/unlock", response_model=s.HostInfo)
async def unlock(request: Request, name: str) -> s.HostInfo:
    """Unlock a host: it gets work again. An ``unlock`` host event; unlocking a host that is
    not locked changes nothing (404 if unknown)."""
    return await ctx(request).engine.acall(hostlock.unlock, name, who(request).name)
