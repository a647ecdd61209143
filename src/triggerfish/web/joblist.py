"""The jobs table's reads: a page of jobs, newest first, and rows by id for live updates.

Pages are by keyset on the job id (``before``: older than that id, ``after``: newer), never
by offset, so that any page of a store of 100,000 jobs costs what the first one does: an
index range read of ``PAGE + 1`` rows. The filters are the API listing's
(:func:`triggerfish.store.reads.job_filters`); the indexes they read through are the
primary key, ``ix_jobs_status`` and ``ix_jobs_user`` (on SQLite they hold the rowid, which
is the id; on PostgreSQL ``(status, id)`` and ``(user, id)``, migration 0010), and
``uq_jobs_pgrp_label`` for a pgrp. A name is a substring, matched on the rows the id order
visits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    conds = filt.conditions()
    with translated(), engine.connect() as conn:
        rows: list[Row] = []
        if after is not None:
            q = sa.select(*SUMMARY_COLS).where(*conds, _id_col > after)
            rows = _fetch(conn, q.order_by(_id_col.asc()).limit(size + 1))
            rows = rows[size - 1 :: -1] if len(rows) > size else []
        if not rows:  # the newest page, or older than ``before``
            before = before if after is None else None
            q = sa.select(*SUMMARY_COLS).where(*conds)
            if before is not None:
                q = q.where(_id_col < before)
            rows = _fetch(conn, q.order_by(_id_col.desc()).limit(size + 1))
            rows = rows[:size]
        out = Page(rows)
        if rows:
            out.older = rows[-1]["id"] if _any(conn, conds, _id_col < rows[-1]["id"]) else None
            out.newer = rows[0]["id"] if _any(conn, conds, _id_col > rows[0]["id"]) else None
        _add_hosts(conn, rows)
    return out


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


def _any(conn: sa.Connection, conds: list[sa.ColumnElement[bool]],
         side: sa.ColumnElement[bool]) -> bool:  # fmt: skip
    """Whether a job passing ``conds`` lies on ``side`` of the page (one index probe)."""
    return conn.execute(sa.select(_id_col).where(*conds, side).limit(1)).first() is not None


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
