"""Global resources (licenses): list them (anyone), set or remove one (admin).

``GET /api/v1/resources`` lists each with its ``total``, ``used`` (by running instances) and
``available``; ``PUT /api/v1/resources/{name}`` with ``{"total": N}`` defines one or changes
its total live; ``DELETE /api/v1/resources/{name}`` forgets one that nothing uses.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from triggerfish.api import schemas as s
from triggerfish.auth.permissions import ADMIN
from triggerfish.engine import resources
from triggerfish.server.auth import who
from triggerfish.server.context import ctx

router = APIRouter(prefix="/api/v1/resources", tags=["resources"])


@router.get("", response_model=dict[str, list[s.ResourceInfo]])
async def listing(request: Request) -> dict[str, list[s.ResourceInfo]]:
    """Every global resource: ``total``, ``used`` by the instances running now (their jobs'
    ``reservations``, e.g. ``global.maya=1``) and ``available``."""
    return {"resources": await ctx(request).engine.acall(resources.listing)}


@router.put("/{name}", response_model=s.ResourceInfo)
async def set_total(request: Request, name: str, body: s.ResourceSet) -> s.ResourceInfo:
    """Define resource ``name`` or change its total (admin). Work waiting for it is
    dispatched at once; a total below what is in use stops new work only (what runs keeps
    its license). Stored: every supervisor of the farm sees it."""
    user = who(request)
    user.require(ADMIN, "setting a global resource")
    return await ctx(request).engine.acall(resources.set_total, name, body.total, user.name)


@router.delete("/{name}", response_model=s.ResourceInfo)
async def remove(request: Request, name: str) -> s.ResourceInfo:
    """Forget resource ``name`` (admin; 404 if unknown, 409 while running work uses it)."""
    user = who(request)
    user.require(ADMIN, "removing a global resource")
    return await ctx(request).engine.acall(resources.remove, name, user.name)
