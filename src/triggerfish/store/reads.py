"""The API's reads. They run on pooled connections, beside the engine's writes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from triggerfish.store import tables as t
from triggerfish.store.changes import Row
from triggerfish.store.db import translated

SUMMARY_COLS = [c for c in t.jobs.c if c.name not in ("package", "fields")]


def job_filters(
    *,
    status: list[str] | None = None,
    pgrp: int | None = None,
    label: str | None = None,
    user: str | None = None,
    name: str | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The conditions of a jobs listing's filters (``name``: exact, or a glob with ``*``)."""
    out: list[sa.ColumnElement[bool]] = []
    if status:
        out.append(t.jobs.c.status.in_(status))
    if pgrp is not None:
        out.append(t.jobs.c.pgrp == pgrp)
    if label is not None:
        out.append(t.jobs.c.label == label)
    if user is not None:
        out.append(t.jobs.c.user == user)
    if name is not None:
        if "*" in name:
            pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(t.jobs.c.name.like(pattern.replace("*", "%"), escape="\\"))
        else:
            out.append(t.jobs.c.name == name)
    return out


def list_jobs(
    engine: sa.Engine,
    *,
    status: list[str] | None = None,
    pgrp: int | None = None,
    label: str | None = None,
    user: str | None = None,
    name: str | None = None,
    ids: list[int] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Row]:
    q = sa.select(*SUMMARY_COLS).where(
        *job_filters(status=status, pgrp=pgrp, label=label, user=user, name=name)
    )
    if ids is not None:
        q = q.where(t.jobs.c.id.in_(ids))
    q = q.order_by(t.jobs.c.id).limit(limit).offset(offset)
    with translated(), engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _valid_id(job_id: int) -> bool:
    return 1 <= job_id <= 2**31 - 1


AGENDA_INLINE = 1000  # agenda items a job's read carries; the rest: list_work (pages)
WORK_PAGE_MAX = 10_000


def get_job(
    engine: sa.Engine, job_id: int, *, agenda: bool = True, agenda_limit: int = AGENDA_INLINE
) -> dict[str, Any] | None:
    """A job with its instances and (``agenda``) its first ``agenda_limit`` agenda items."""
    if not _valid_id(job_id):
        return None
    with translated(), engine.connect() as conn:
        job = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
        if job is None:
            return None
        out: dict[str, Any] = dict(job)
        out["subjobs"] = [
            dict(r)
            for r in conn.execute(
                sa.select(t.subjobs).where(t.subjobs.c.job_id == job_id).order_by(t.subjobs.c.subid)
            ).mappings()
        ]
        out["agenda"] = _work_page(conn, job_id, 0, agenda_limit) if agenda else []
    return out


def _work_page(conn: sa.Connection, job_id: int, offset: int, limit: int) -> list[Row]:
    q = sa.select(t.work).where(t.work.c.job_id == job_id).order_by(t.work.c.seq)
    return [dict(r) for r in conn.execute(q.limit(limit).offset(offset)).mappings()]


def list_work(engine: sa.Engine, job_id: int, *, offset: int = 0,
              limit: int = 1000) -> tuple[int, list[Row]] | None:  # fmt: skip
    """A page of a job's agenda, in agenda order, and how many items the job has; None when
    the job does not exist."""
    if not _valid_id(job_id):
        return None
    with translated(), engine.connect() as conn:
        todo = conn.execute(sa.select(t.jobs.c.todo).where(t.jobs.c.id == job_id)).first()
        if todo is None:
            return None
        return int(todo[0]), _work_page(conn, job_id, offset, limit)


def get_work(engine: sa.Engine, job_id: int, name: str) -> Row | None:
    if not _valid_id(job_id):
        return None
    with translated(), engine.connect() as conn:
        row = (
            conn.execute(sa.select(t.work).where(t.work.c.job_id == job_id, t.work.c.name == name))
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


def list_hosts(engine: sa.Engine) -> list[Row]:
    with translated(), engine.connect() as conn:
        rows = conn.execute(sa.select(t.hosts).order_by(t.hosts.c.name)).mappings()
        return [dict(r) for r in rows]


def list_events(
    engine: sa.Engine,
    *,
    after: int = 0,
    limit: int = 1000,
    job: int | None = None,
    types: list[str] | None = None,
    before: int | None = None,
) -> list[Row]:
    """Events after seq ``after``, oldest first, at most ``limit``; with ``before``, the
    newest ``limit`` of those below seq ``before`` (still oldest first)."""
    q = sa.select(t.events).where(t.events.c.seq > after)
    if job is not None:
        q = q.where(t.events.c.job == job)
    if types:
        q = q.where(t.events.c.type.in_(types))
    if before is None:
        q = q.order_by(t.events.c.seq).limit(limit)
    else:
        q = q.where(t.events.c.seq < before).order_by(t.events.c.seq.desc()).limit(limit)
    with translated(), engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    return rows if before is None else rows[::-1]


def list_callbacks(engine: sa.Engine, job: int | None) -> list[Row]:
    """A job's callbacks (``job`` None: the global ones), oldest first."""
    cond = t.callbacks.c.job_id.is_(None) if job is None else t.callbacks.c.job_id == job
    q = sa.select(t.callbacks).where(cond).order_by(t.callbacks.c.id)
    with translated(), engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def list_runs(
    engine: sa.Engine,
    *,
    job: int | None = None,
    callback: int | None = None,
    limit: int = 1000,
    global_only: bool = False,
) -> list[Row]:
    """Callback runs, newest last (the last ``limit`` of them)."""
    q = sa.select(t.callback_runs)
    if global_only:
        q = q.where(t.callback_runs.c.job_id.is_(None))
    if job is not None:
        q = q.where(t.callback_runs.c.job_id == job)
    if callback is not None:
        q = q.where(t.callback_runs.c.callback == callback)
    q = q.order_by(t.callback_runs.c.id.desc()).limit(limit)
    with translated(), engine.connect() as conn:
        return [dict(r) for r in reversed(conn.execute(q).mappings().all())]


def list_tasks(
    engine: sa.Engine,
    *,
    status: list[str] | None = None,
    limit: int = 1000,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Jobs of prototype ``task``, newest first (ids below ``before`` only, if given: the next
    page), each with its one work item as ``agenda``."""
    q = sa.select(t.jobs).where(t.jobs.c.prototype == "task")
    if status:
        q = q.where(t.jobs.c.status.in_(status))
    if before is not None:
        q = q.where(t.jobs.c.id < before)
    q = q.order_by(t.jobs.c.id.desc()).limit(limit)
    with translated(), engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
        ids = [r["id"] for r in rows]
        items: dict[int, list[Row]] = {}
        for i in range(0, len(ids), 500):
            w = sa.select(t.work).where(t.work.c.job_id.in_(ids[i : i + 500]))
            for m in conn.execute(w).mappings():
                items.setdefault(m["job_id"], []).append(dict(m))
    for r in rows:
        r["agenda"] = items.get(r["id"], [])
    return rows


def status_counts(engine: sa.Engine) -> dict[str, dict[str, int]]:
    """How many jobs, tasks (jobs of prototype ``task``) and agenda items each status has:
    ``{"jobs": {status: n}, "tasks": {...}, "items": {...}}``, for the metrics. One statement
    of two grouped reads (one snapshot of the store: nothing counted twice or missed)."""
    j, w = t.jobs.c, t.work.c
    by_kind = sa.select(j.prototype, j.status, sa.func.count()).group_by(j.prototype, j.status)
    by_status = sa.select(sa.null(), w.status, sa.func.count()).group_by(w.status)
    out: dict[str, dict[str, int]] = {"jobs": {}, "tasks": {}, "items": {}}
    with translated(), engine.connect() as conn:
        for prototype, status, n in conn.execute(sa.union_all(by_kind, by_status)):
            if prototype is None:  # (a job's prototype is never null: an item's row)
                kinds: tuple[str, ...] = ("items",)
            else:
                kinds = ("jobs", "tasks") if prototype == "task" else ("jobs",)
            for kind in kinds:
                out[kind][status] = out[kind].get(status, 0) + int(n)
    return out
