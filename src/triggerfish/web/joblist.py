"""The jobs table's reads: a page of jobs, newest first, and rows by id for live updates.

Pages are by keyset on the job id (``before``: older than that id, ``after``: newer), never
by offset, so that any page of a store of 100,000 jobs costs what the first one does: an
index range read of ``PAGE`` rows (and one probe on each side). The filters are the API listing's
(:func:`triggerfish.store.reads.job_filters`); the indexes they read through are the
primary key, ``ix_jobs_status_id`` and ``ix_jobs_user_id`` (``(status, id)``, ``(user, id)``:
migration 0010) and ``uq_jobs_pgrp_label`` for a pgrp. A name is a substring, matched on the
rows the id order visits (a page with a rare name reads every job: 60 ms for 100,000).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from triggerfish.store import tables as t
from triggerfish.store.changes import Row
from triggerfish.store.db import translated
from triggerfish.store.reads import SUMMARY_COLS, job_filters

PAGE = 50  # rows of a page
MAX_IDS = 200  # rows at most in one fragment request

_id_col = t.jobs.c.id


@dataclass(frozen=True)
class JobFilter:
    """What the jobs table shows: every filter is optional; ``name`` is a substring."""

    status: list[str] | None = None
    user: str | None = None
    label: str | None = None
    pgrp: int | None = None
    name: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.status or self.user or self.label or self.name or self.pgrp is not None)

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        name = f"*{self.name}*" if self.name else None
        return job_filters(status=self.status, pgrp=self.pgrp, label=self.label or None,
                           user=self.user or None, name=name)  # fmt: skip


@dataclass
class Page:
    """Rows newest first; ``older`` / ``newer``: the ids to page on from (None: no more)."""

    rows: list[Row] = field(default_factory=list)
    older: int | None = None  # ``before=`` of the next older page
    newer: int | None = None  # ``after=`` of the next newer page

    @property
    def first(self) -> bool:
        """The newest page (new jobs appear at its top)."""
        return self.newer is None


def page(
    engine: sa.Engine, filt: JobFilter, *, before: int | None = None,
    after: int | None = None, size: int = PAGE,
) -> Page:  # fmt: skip
    """The page of ``size`` jobs older than ``before``, or newer than ``after`` (the newest
    page when there are not ``size`` of them), or the newest."""
    with translated(), engine.connect() as conn:
        rows: list[Row] = []
        if after is not None:
            q = _in_order(SUMMARY_COLS, filt, after < _id_col, size + 1, newest=False)
            rows = _fetch(conn, q)
            rows = rows[size - 1 :: -1] if len(rows) > size else []
        if not rows:  # the newest page, or older than ``before``
            older = None if before is None or after is not None else _id_col < before
            rows = _fetch(conn, _in_order(SUMMARY_COLS, filt, older, size, newest=True))
        out = Page(rows)
        if rows:
            out.older = rows[-1]["id"] if _any(conn, filt, _id_col < rows[-1]["id"]) else None
            out.newer = rows[0]["id"] if _any(conn, filt, rows[0]["id"] < _id_col) else None
        _add_hosts(conn, rows)
    return out


def _in_order(
    cols: list[sa.Column[Any]], filt: JobFilter, side: sa.ColumnElement[bool] | None, n: int,
    *, newest: bool,
) -> sa.Select[Any]:  # fmt: skip
    """The first ``n`` jobs passing ``filt`` on ``side`` of an id, by id (``newest``: newest
    first). Several statuses are read one by one and merged, so that each is an ordered range
    of the ``(status, id)`` index: the cost is the page's, whatever the planner estimates."""
    order = _id_col.desc() if newest else _id_col.asc()
    rest = [*replace(filt, status=None).conditions(), *([] if side is None else [side])]
    statuses: list[str | None] = [*filt.status] if filt.status else [None]
    if len(statuses) == 1:
        only = [] if statuses[0] is None else [t.jobs.c.status == statuses[0]]
        return sa.select(*cols).where(*only, *rest).order_by(order).limit(n)
    parts = [
        sa.select(*cols).where(t.jobs.c.status == st, *rest).order_by(order).limit(n).subquery()
        for st in statuses
    ]
    merged = sa.union_all(*(sa.select(p) for p in parts)).subquery()
    by_id = merged.c.id.desc() if newest else merged.c.id.asc()
    return sa.select(merged).order_by(by_id).limit(n)


def rows(
    engine: sa.Engine, ids: list[int], new: list[int] | None = None, filt: JobFilter | None = None
) -> list[Row]:
    """The rows of jobs ``ids`` (that still exist) and of jobs ``new`` that pass ``filt``,
    newest first, at most :data:`MAX_IDS` of each."""
    ids, new = sorted(set(ids))[-MAX_IDS:], sorted(set(new or ()) - set(ids))[-MAX_IDS:]
    with translated(), engine.connect() as conn:
        out: list[Row] = []
        if ids:
            out += _fetch(conn, sa.select(*SUMMARY_COLS).where(_id_col.in_(ids)))
        if new:
            conds = (filt or JobFilter()).conditions()
            out += _fetch(conn, sa.select(*SUMMARY_COLS).where(_id_col.in_(new), *conds))
        out.sort(key=lambda r: r["id"], reverse=True)
        _add_hosts(conn, out)
    return out


def _fetch(conn: sa.Connection, q: sa.Select[tuple[object, ...]]) -> list[Row]:
    return [dict(r) for r in conn.execute(q).mappings()]


def _any(conn: sa.Connection, filt: JobFilter, side: sa.ColumnElement[bool]) -> bool:
    """Whether a job passing ``filt`` lies on ``side`` of the page (an index probe)."""
    q = _in_order([_id_col], filt, side, 1, newest=True)
    return conn.execute(q).first() is not None


def _add_hosts(conn: sa.Connection, rows: list[Row]) -> None:
    """Set ``hosts`` on each row: how many hosts run an instance of the job now (read for
    the running jobs only, through the subjobs' primary key)."""
    running = [r["id"] for r in rows if r["status"] == "running"]
    counts: dict[int, int] = {}
    if running:
        s = t.subjobs.c
        q = (
            sa.select(s.job_id, sa.func.count(sa.distinct(s.host)))
            .where(s.job_id.in_(running), s.status == "running", s.host.is_not(None))
            .group_by(s.job_id)
        )
        counts = {int(j): int(n) for j, n in conn.execute(q)}
    for r in rows:
        r["hosts"] = counts.get(r["id"], 0)
