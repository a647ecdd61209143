"""Reads of one job's page: its items' statuses in one query, its pgrp's callbacks and its
newest events. Beside ``reads`` (the API's general reads) so each stays small."""

from __future__ import annotations

import sqlalchemy as sa

from triggerfish.store import tables as t
from triggerfish.store.changes import Row
from triggerfish.store.db import translated
from triggerfish.store.reads import _valid_id

ItemStatuses = tuple[str, list[tuple[str, str]]]  # the job's status, (name, status) per item


def item_statuses(engine: sa.Engine, job_id: int) -> ItemStatuses | None:
    """The job's status and every agenda item's (name, status), in agenda order, read with one
    query (the job joined to its items); None when the job does not exist."""
    if not _valid_id(job_id):
        return None
    q = (
        sa.select(t.jobs.c.status, t.work.c.name, t.work.c.status)
        .select_from(t.jobs.outerjoin(t.work, t.work.c.job_id == t.jobs.c.id))
        .where(t.jobs.c.id == job_id)
        .order_by(t.work.c.seq)
    )
    with translated(), engine.connect() as conn:
        rows = conn.execute(q).all()
    if not rows:
        return None
    items = [(r[1], r[2]) for r in rows if r[1] is not None]
    return str(rows[0][0]), items


def pgrp_callbacks(engine: sa.Engine, job_ids: list[int]) -> list[Row]:
    """The callbacks of these jobs (id, job, source, triggers), for the pgrp's graph."""
    c = t.callbacks.c
    out: list[Row] = []
    with translated(), engine.connect() as conn:
        for i in range(0, len(job_ids), 500):
            q = sa.select(c.id, c.job_id, c.source, c.triggers).where(
                c.job_id.in_(job_ids[i : i + 500])
            )
            out += [dict(r) for r in conn.execute(q.order_by(c.id)).mappings()]
    return out


def newest_events(engine: sa.Engine, job_id: int, limit: int = 200) -> list[Row]:
    """The job's last ``limit`` events, newest first."""
    q = (
        sa.select(t.events)
        .where(t.events.c.job == job_id)
        .order_by(t.events.c.seq.desc())
        .limit(limit)
    )
    with translated(), engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
