"""Global resources (licenses) defined on the supervisor: list, set, remove.

``triggerfish supervisor --resource maya=5`` defines them at start (:func:`define`);
``triggerfish resources set maya 8`` (``PUT /api/v1/resources/maya``) changes one live, and
``resources remove maya`` forgets one that no running instance uses. Totals are stored (the
``resources`` table), so every supervisor of the farm sees the same; what is in use is counted
by ``engine.reserve`` from what runs. Each change is logged with who made it.
"""

from __future__ import annotations

import logging
import re

from triggerfish.api import schemas as s
from triggerfish.engine.reserve import GlobalResource
from triggerfish.engine.state import State
from triggerfish.errors import Conflict, NotFound, ValidationError
from triggerfish.model.reservations import NAME

logger = logging.getLogger(__name__)


def info(g: GlobalResource) -> s.ResourceInfo:
    return s.ResourceInfo(
        name=g.name, total=g.total, used=g.used, available=g.available,
        changed_by=g.changed_by, changed_at=g.changed_at,
    )  # fmt: skip


def listing(state: State) -> list[s.ResourceInfo]:
    """Every global resource, by name, with what is in use now."""
    return [info(state.resources[n]) for n in sorted(state.resources)]


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValidationError(
            f"name: {name!r} is not a resource name (letters, digits, _ . -; a letter or _ "
            "first; at most 100)",
            field="name",
        )
    return name


def set_total(state: State, name: str, total: int, by: str) -> s.ResourceInfo:
    """Define resource ``name`` with ``total`` (or change its total): work that waited for it
    is dispatched at once; lowered below what is in use, what runs keeps it."""
    check_name(name)
    g = state.resources.get(name)
    if g is None:
        g = state.resources[name] = GlobalResource(name, total)
    elif g.total == total:
        return info(g)
    g.total, g.changed_by, g.changed_at = total, by, state.now
    state.licenses_freed()  # (jobs that waited for it may fit now)
    state.ch.resource_upserts.append(g.row())
    state.work_available = True
    logger.info(
        "resource %s: total %d", name, total,
        extra={"action": "resource.set", "resource": name, "total": total, "by": by},
    )  # fmt: skip
    return info(g)


def remove(state: State, name: str, by: str) -> s.ResourceInfo:
    """Forget resource ``name`` (NotFound if unknown; Conflict while instances use it)."""
    g = state.resources.get(name)
    if g is None:
        raise NotFound(f"no global resource {name!r}", field="name")
    if g.used:
        raise Conflict(f"global resource {name!r} is in use by running work ({g.used})")
    del state.resources[name]
    state.ch.resource_deletes.append(name)
    logger.info(
        "resource %s removed by %s", name, by,
        extra={"action": "resource.remove", "resource": name, "by": by},
    )  # fmt: skip
    return info(g)


def define(state: State, totals: dict[str, int], by: str) -> list[s.ResourceInfo]:
    """The supervisor's ``--resource NAME=N`` options, applied at its start."""
    for name, total in totals.items():
        set_total(state, name, total, by)
    return listing(state)


def parse_option(text: str) -> dict[str, int]:
    """``maya=5,nuke=2`` (``--resource`` / ``TRIGGERFISH_RESOURCES``) as a dict; ValueError
    naming what is wrong."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in re.split(r"[,\s]+", text)):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not NAME.fullmatch(name.strip()) or not value.strip().isdigit():
            raise ValueError(f"{part!r} is not NAME=COUNT (e.g. maya=5)")
        out[name.strip()] = int(value)
    return out
