"""``GET /api/v1/jobs/{id}/statuses``: every agenda item's name and status, compactly, for the
frame grid of a job's page (100,000 items in one answer of a few hundred kilobytes).

Names come as runs ``[first, count, step]`` where they are integers that follow each other
(``"1"``, ``"2"``, … as a frame range makes them), else as strings; statuses as one string of
one character per item, the index of its status in ``legend``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from triggerfish.errors import NoSuchJob
from triggerfish.model.status import TALLY_KEYS
from triggerfish.server.context import ctx
from triggerfish.server.params import Id
from triggerfish.store import jobreads

router = APIRouter(prefix="/api/v1")
LEGEND = TALLY_KEYS  # the statuses of ``codes``, by index (at most 10: one digit each)
_CODE = {st: str(i) for i, st in enumerate(LEGEND)}

Run = tuple[int, int, int]  # first, count, step: the names first, first + step, …
# in the answer a list of three (a JSON Schema every OpenAPI tool reads, unlike a tuple's)
RunOut = Annotated[list[int], Field(min_length=3, max_length=3)]


class ItemStatuses(BaseModel):
    """A job's items in agenda order: ``names`` (strings, or runs of integer names) and
    ``codes`` (one character per item: its status is ``legend[int(char)]``)."""

    job: int
    status: str  # the job's
    total: int  # items of the agenda
    legend: list[str]
    names: list[str | RunOut] = Field(
        description="names in agenda order: a string, or [first, count, step] for the "
        "integer names first, first + step, … (count of them)"
    )
    codes: str
    counts: dict[str, int]  # items by status
    seq: int  # the event log's head before the read: follow GET /events/stream after it


def _integer(name: str) -> int | None:
    """The name as an integer when it spells one exactly ("7", not "07" nor "+7")."""
    if not name or not (name.isdigit() or (name[0] == "-" and name[1:].isdigit())):
        return None
    n = int(name)
    return n if str(n) == name else None


def compact_names(names: Iterable[str]) -> list[str | Run]:
    """Names with the runs of integers that follow each other at one step folded."""
    out: list[str | Run] = []
    first = count = step = 0
    for name in names:
        n = _integer(name)
        if n is not None and count and n == first + count * step and (count > 1 or step):
            count += 1
            continue
        if n is not None and count == 1 and n > first:
            count, step = 2, n - first
            continue
        if count:
            out.append((first, count, step or 1))
            count = 0
        if n is None:
            out.append(name)
        else:
            first, count, step = n, 1, 0
    if count:
        out.append((first, count, step or 1))
    return out


def _encode(job_id: int, seq: int, read: jobreads.ItemStatuses) -> ItemStatuses:
    """The answer from the store's rows (on a worker thread: 100,000 items take ~40 ms)."""
    status, items = read
    codes = "".join(_CODE.get(st, "0") for _, st in items)
    counts = {st: codes.count(code) for st, code in _CODE.items()}
    names = [n if isinstance(n, str) else list(n) for n in compact_names(n for n, _ in items)]
    return ItemStatuses(
        job=job_id, status=status, total=len(items), legend=list(LEGEND), names=names,
        codes=codes, counts={k: v for k, v in counts.items() if v}, seq=seq,
    )  # fmt: skip


def _answer(engine: Engine, job_id: int, seq: int) -> ItemStatuses | None:
    """Read and encode (None: no such job)."""
    read = jobreads.item_statuses(engine, job_id)
    return None if read is None else _encode(job_id, seq, read)


@router.get("/jobs/{job_id}/statuses", response_model=ItemStatuses, tags=["jobs"])
async def item_statuses(request: Request, job_id: Id) -> ItemStatuses:
    """Every agenda item's name and status in one compact answer (the job page's grid)."""
    c = ctx(request)
    seq = c.hub.event_seq  # committed: the read below sees every event up to it
    answer = await asyncio.to_thread(_answer, c.store.engine, job_id, seq)
    if answer is None:
        raise NoSuchJob(f"no such job {job_id}", field="job")
    return answer
