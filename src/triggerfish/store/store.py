"""The store: the engine's writes (one transaction per group commit) and its start-up load."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from triggerfish.model.status import TERMINAL
from triggerfish.store import rawsql
from triggerfish.store import tables as t
from triggerfish.store.changes import Changes, Row
from triggerfish.store.checkpoint import Checkpointer
from triggerfish.store.db import open_engine, translated
from triggerfish.store.jsontext import dumps

logger = logging.getLogger(__name__)

# what changes as a job runs; the rest of JOB_MUTABLE only when it is modified (job_respecs)
JOB_HOT = (
    "priority",
    "status",
    "cpus",
    "reason",
    "todotally",
    "timestart",
    "timecomplete",
    "lastupdate",
)
JOB_MUTABLE = (
    "label",
    "name",
    "user",
    "priority",
    "status",
    "cpus",
    "reason",
    "todotally",
    "fields",
    "package",
    "timestart",
    "timecomplete",
    "lastupdate",
)
SUB_MUTABLE = (
    "status",
    "host",
    "token",
    "retry",
    "work",
    "exit_code",
    "retry_at",
    "timestart",
    "timecomplete",
)
WORK_MUTABLE = (
    "status",
    "subid",
    "host",
    "token",
    "retry",
    "exit_code",
    "result",
    "retry_at",
    "timestart",
    "timecomplete",
)
HOST_MUTABLE = (
    "state",
    "slots",
    "properties",
    "groups",
    "cluster",
    "session",
    "last_seen",
    "registered",
    "locked_by",
    "locked_at",
    "jobtypes",
)
ACTIVE_JOB_STATUSES = ("pending", "running", "blocked", "waiting", "suspended")
INSERT_CHUNK = 5000
# counter rows of a database an older triggerfish made (its intake journal's: not counters
# the engine keeps; ``server.oldintake`` reads them)
OLD_INTAKE = frozenset({"intake_seq", "intake_epoch"})
COPY_FROM = 64  # agenda items in one commit from which PostgreSQL gets them by COPY


# what ``Store._whole`` writes; a commit with any other kind of change takes a transaction
WHOLE_KINDS = frozenset(
    {"counters", "job_inserts", "job_updates", "sub_inserts", "sub_updates", "work_inserts",
     "work_updates", "events"}
)  # fmt: skip
_OTHER_KINDS = tuple(f.name for f in dataclasses.fields(Changes) if f.name not in WHOLE_KINDS)


def _only_hot(ch: Changes) -> bool:
    """Only what ``Store._whole`` writes: counters, new and updated jobs, instances and a few
    items, events (a kind of change added to ``Changes`` later is not one of them)."""
    if len(ch.work_inserts) >= COPY_FROM:
        return False
    for name in _OTHER_KINDS:
        value = getattr(ch, name)
        if value is not None and value != [] and value != {}:
            return False
    return True


def _update(table: sa.Table, keys: Sequence[str], cols: Sequence[str]) -> sa.Update:
    cond = [table.c[k] == sa.bindparam(f"k_{k}") for k in keys]
    return sa.update(table).where(*cond).values({c: sa.bindparam(c) for c in cols})


def _keyed(rows: list[Row], keys: Sequence[str]) -> list[Row]:
    out = []
    for r in rows:
        d = dict(r)
        for k in keys:
            d[f"k_{k}"] = d.pop(k)
        out.append(d)
    return out


class Store:
    """Owns the SQLAlchemy engine. Writes come only from the engine thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)
        self.dialect = self.engine.dialect.name
        d = self.dialect
        self._job_ins = rawsql.insert(d, "jobs", [c.name for c in t.jobs.c])
        self._sub_ins = rawsql.insert(d, "subjobs", [c.name for c in t.subjobs.c])
        self._work_ins = rawsql.insert(d, "work", [c.name for c in t.work.c])
        self._job_upd = rawsql.update(d, "jobs", JOB_MUTABLE, ["id"])
        self._job_hot = rawsql.update(d, "jobs", JOB_HOT, ["id"])
        self._sub_upd = rawsql.update(d, "subjobs", SUB_MUTABLE, ["job_id", "subid"])
        self._work_upd = rawsql.update(d, "work", WORK_MUTABLE, ["job_id", "name"])
        self._counter_upd = rawsql.update(d, "counters", ["value"], ["name"])
        self._event_ins = rawsql.insert(d, "events", [c.name for c in t.events.c])
        self._cb_upd = rawsql.update(d, "callbacks", ["count", "latches"], ["id"])
        self._cb_ins = rawsql.insert(d, "callbacks", [c.name for c in t.callbacks.c])
        self._run_ins = rawsql.insert(d, "callback_runs", [c.name for c in t.callback_runs.c])
        self._run_upd = rawsql.update(
            d, "callback_runs", ["status", "started", "ended", "output", "error"], ["id"]
        )
        self._timer_ins = rawsql.insert(d, "timers", [c.name for c in t.timers.c])
        self._timer_del = rawsql.delete(d, "timers", ["key"])
        self._host_upd = _update(t.hosts, ["name"], HOST_MUTABLE)
        # PostgreSQL: the hot kinds of change in one statement (on separate tables)
        self._hot: rawsql.Together | None = None
        if d == "postgresql":
            self._hot = rawsql.Together(
                [self._counter_upd, self._job_hot, self._sub_upd, self._work_upd, self._event_ins]
            )
        # PostgreSQL: a commit of only these kinds of change (a task added, a report) is one
        # statement on a connection in autocommit mode: atomic as a statement, one round trip,
        # no BEGIN and COMMIT (the inserts and updates of a table touch different rows)
        self._whole: rawsql.Together | None = None
        if d == "postgresql":
            self._whole = rawsql.Together(
                [self._counter_upd, self._job_ins, self._job_hot, self._sub_ins, self._sub_upd,
                 self._work_ins, self._work_upd, self._event_ins]
            )  # fmt: skip
        self._auto: Any = None  # the pool's connection in autocommit mode, for those
        self._conn: sa.Connection | None = None  # the engine thread's own connection
        self._ensure_counters()
        path = self.engine.url.database if d == "sqlite" else None
        self._checkpoints = Checkpointer(path) if path and path != ":memory:" else None

    def _ensure_counters(self) -> None:
        with translated(), self.engine.begin() as conn:
            have = set(conn.execute(sa.select(t.counters.c.name)).scalars())
            for name, column in (
                ("job_id", t.jobs.c.id),
                ("event_seq", t.events.c.seq),
                ("callback_id", t.callbacks.c.id),
                ("run_id", t.callback_runs.c.id),
                ("schedule_id", t.schedules.c.id),
            ):
                if name not in have:
                    start = conn.execute(sa.select(sa.func.max(column))).scalar() or 0
                    conn.execute(sa.insert(t.counters).values(name=name, value=int(start)))

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._auto is not None:
            self._auto.invalidate()  # not back to the pool in autocommit mode
            self._auto = None
        self.engine.dispose()

    def _writer(self) -> sa.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    # ------------------------------------------------------------------ writes

    def flush(self, ch: Changes) -> None:
        """Write one group commit in one transaction; all of it or nothing."""
        if self._whole is not None and _only_hot(ch):
            self._flush_whole(self._whole, ch)
            return
        conn = self._writer()
        try:
            with translated(), conn.begin():
                if self.dialect == "postgresql" and len(ch.work_inserts) < COPY_FROM:
                    # every statement in one round trip (COPY cannot be pipelined)
                    raw: Any = conn.connection.dbapi_connection
                    with raw.pipeline():
                        self._write(conn, ch)
                else:
                    self._write(conn, ch)
        except BaseException:  # (translated: a driver's error is a StoreError now)
            # a connection in an unknown state is not reused: the next commit opens a new one
            self._conn = None
            conn.invalidate()
            raise
        if self._checkpoints is not None:
            self._checkpoints.committed()

    def _flush_whole(self, whole: rawsql.Together, ch: Changes) -> None:
        """The commit as one statement in autocommit mode (PostgreSQL)."""
        counter_rows = [{"name": k, "value": v} for k, v in ch.counters.items()]
        rows = [counter_rows, ch.job_inserts, ch.job_updates, ch.sub_inserts, ch.sub_updates,
                ch.work_inserts, ch.work_updates, ch.events]  # fmt: skip
        try:
            with translated():
                if self._auto is None:
                    self._auto = self._autocommit_connection()
                whole.run_on(self._auto.driver_connection, rows)
        except BaseException:  # (translated: a driver's error is a StoreError now)
            if self._auto is not None:  # in an unknown state: the next commit opens another
                self._auto.invalidate()
                self._auto = None
            raise

    def _autocommit_connection(self) -> Any:
        auto: Any = self.engine.raw_connection()
        try:
            auto.driver_connection.autocommit = True
        except BaseException:
            auto.invalidate()
            raise
        return auto

    def _write(self, conn: sa.Connection, ch: Changes) -> None:
        counter_rows = [{"name": k, "value": v} for k, v in ch.counters.items()]
        hot = self._hot
        if hot is None:
            self._counter_upd.run(conn, counter_rows)
        if ch.host_inserts:
            conn.execute(sa.insert(t.hosts), ch.host_inserts)
        self._job_ins.run(conn, ch.job_inserts)
        self._sub_ins.run(conn, ch.sub_inserts)
        if ch.work_inserts:
            self._insert_work(conn, ch.work_inserts)
        self._job_upd.run(conn, ch.job_respecs)
        if hot is None:
            self._job_hot.run(conn, ch.job_updates)
            self._sub_upd.run(conn, ch.sub_updates)
            self._work_upd.run(conn, ch.work_updates)
        else:  # the events too: no statement below touches them
            rows = [counter_rows, ch.job_updates, ch.sub_updates, ch.work_updates, ch.events]
            hot.run(conn, rows)
        if ch.host_updates:
            conn.execute(self._host_upd, _keyed(ch.host_updates, ["name"]))
        if ch.host_deletes:
            conn.execute(sa.delete(t.hosts).where(t.hosts.c.name.in_(ch.host_deletes)))
        for job_id, subid in ch.sub_deletes:
            conn.execute(
                sa.delete(t.subjobs).where(t.subjobs.c.job_id == job_id, t.subjobs.c.subid == subid)
            )
        if ch.job_deletes:
            ids = ch.job_deletes
            conn.execute(sa.delete(t.work).where(t.work.c.job_id.in_(ids)))
            conn.execute(sa.delete(t.subjobs).where(t.subjobs.c.job_id.in_(ids)))
            conn.execute(sa.delete(t.jobs).where(t.jobs.c.id.in_(ids)))
        if hot is None:
            self._event_ins.run(conn, ch.events)
        self._cb_ins.run(conn, ch.callback_inserts)
        self._cb_upd.run(conn, ch.callback_updates)
        if ch.callback_deletes:
            conn.execute(sa.delete(t.callbacks).where(t.callbacks.c.id.in_(ch.callback_deletes)))
        self._run_ins.run(conn, ch.run_inserts)
        self._run_upd.run(conn, ch.run_updates)
        self._write_schedules(conn, ch)

    def _write_schedules(self, conn: sa.Connection, ch: Changes) -> None:
        """The part of :meth:`_write` for timers, schedules, global resources and purges."""
        if ch.timer_upserts or ch.timer_deletes:
            gone = [{"key": r["key"]} for r in ch.timer_upserts]
            gone += [{"key": k} for k in ch.timer_deletes]
            self._timer_del.run(conn, gone)
            self._timer_ins.run(conn, ch.timer_upserts)
        if ch.schedule_upserts or ch.schedule_deletes:
            ids = [r["id"] for r in ch.schedule_upserts] + ch.schedule_deletes
            conn.execute(sa.delete(t.schedules).where(t.schedules.c.id.in_(ids)))
            if ch.schedule_upserts:
                conn.execute(sa.insert(t.schedules), ch.schedule_upserts)
        if ch.resource_upserts or ch.resource_deletes:
            names = [r["name"] for r in ch.resource_upserts] + ch.resource_deletes
            conn.execute(sa.delete(t.resources).where(t.resources.c.name.in_(names)))
            if ch.resource_upserts:
                conn.execute(sa.insert(t.resources), ch.resource_upserts)
        if ch.purge_jobs or ch.purge_before is not None:
            _purge(conn, ch.purge_jobs, ch.purge_before)

    def _insert_work(self, conn: sa.Connection, rows: list[Row]) -> None:
        """New agenda items: a fast path, since one job may bring 100,000 of them."""
        fresh = all(r["status"] in ("pending", "blocked", "complete") for r in rows)
        if not fresh or len(rows) < COPY_FROM:  # a few (tasks): one statement on PostgreSQL
            self._work_ins.run(conn, rows)
            return
        cols = "job_id, name, seq, status, retry"
        tuples: list[tuple[Any, ...]]
        if any(r.get("package") is not None for r in rows):  # (items with their own package)
            cols += ", package"
            tuples = [(r["job_id"], r["name"], r["seq"], r["status"], r["retry"],
                       None if r.get("package") is None else dumps(r["package"]))
                      for r in rows]  # fmt: skip
        else:
            tuples = [(r["job_id"], r["name"], r["seq"], r["status"], r["retry"]) for r in rows]
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f"COPY work ({cols}) FROM STDIN") as copy:
                for tup in tuples:
                    copy.write_row(tup)
        else:
            marks = ", ".join("?" * len(tuples[0]))
            conn.exec_driver_sql(f"INSERT INTO work ({cols}) VALUES ({marks})", tuples)

    # ------------------------------------------------------------------ engine reads

    def counters(self) -> dict[str, int]:
        with translated(), self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.counters.c.name, t.counters.c.value)).all()
            out = {r.name: int(r.value) for r in rows if r.name not in OLD_INTAKE}
            last_event = conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar()
            max_job = conn.execute(sa.select(sa.func.max(t.jobs.c.id))).scalar()
        out.setdefault("event_seq", int(last_event or 0))
        out.setdefault("job_id", int(max_job or 0))
        return out

    def active_job_ids(self) -> list[int]:
        with translated(), self.engine.connect() as conn:
            q = sa.select(t.jobs.c.id).where(t.jobs.c.status.in_(ACTIVE_JOB_STATUSES))
            return [int(r) for r in conn.execute(q).scalars()]

    def load_job(self, job_id: int) -> tuple[Row, list[Row], list[Row]] | None:
        """A job row with its subjob rows and work rows (in agenda order)."""
        with translated(), self.engine.connect() as conn:
            job = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
            if job is None:
                return None
            subs = (
                conn.execute(
                    sa.select(t.subjobs)
                    .where(t.subjobs.c.job_id == job_id)
                    .order_by(t.subjobs.c.subid)
                )
                .mappings()
                .all()
            )
            items = (
                conn.execute(
                    sa.select(t.work).where(t.work.c.job_id == job_id).order_by(t.work.c.seq)
                )
                .mappings()
                .all()
            )
        return dict(job), [dict(s) for s in subs], [dict(w) for w in items]

    def load_callbacks(self) -> list[Row]:
        """Every stored callback (a finished job's may still fire), with its job's pgrp and
        pid, oldest first."""
        q = sa.select(
            t.callbacks, t.jobs.c.pgrp.label("job_pgrp"), t.jobs.c.pid.label("job_pid")
        ).outerjoin(t.jobs, t.jobs.c.id == t.callbacks.c.job_id)
        with translated(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(t.callbacks.c.id)).mappings()]

    def unfinished_runs(self) -> list[Row]:
        """Runs queued or running when the supervisor stopped, with their callback and event."""
        r, c, e = t.callback_runs, t.callbacks, t.events
        q = (
            sa.select(
                r,
                c.c.language,
                c.c.code,
                c.c.source,
                c.c.user,
                e.c.name.label("ev_name"),
                e.c.type.label("ev_type"),
                e.c.job.label("ev_job"),
                e.c.subid.label("ev_subid"),
                e.c.work.label("ev_work"),
                e.c.host.label("ev_host"),
            )
            .join(c, c.c.id == r.c.callback)
            .outerjoin(e, e.c.seq == r.c.event_seq)
            .where(r.c.status.in_(("queued", "running")))
            .order_by(r.c.id)
        )
        with translated(), self.engine.connect() as conn:
            return [dict(x) for x in conn.execute(q).mappings()]

    def load_schedules(self) -> list[Row]:
        """Every recurring-task schedule."""
        with translated(), self.engine.connect() as conn:
            q = sa.select(t.schedules).order_by(t.schedules.c.id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def load_resources(self) -> list[Row]:
        """Every global resource (``name``, ``total``, ``changed_by``, ``changed_at``)."""
        with translated(), self.engine.connect() as conn:
            q = sa.select(t.resources).order_by(t.resources.c.name)
            return [dict(r) for r in conn.execute(q).mappings()]

    def load_timers(self) -> list[Row]:
        """Every pending timer (``key``, ``due``, ``kind``, ``payload``)."""
        with translated(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t.timers)).mappings()]

    def pgrp_label_ids(self, pgrp: int) -> dict[str, int]:
        with translated(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.jobs.c.label, t.jobs.c.id).where(t.jobs.c.pgrp == pgrp)
            ).all()
        return {r.label: int(r.id) for r in rows}

    def load_hosts(self) -> list[Row]:
        with translated(), self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t.hosts)).mappings()]

    def pgrp_labels(self, pgrp: int) -> set[str] | None:
        """Labels of the jobs of ``pgrp``; None when no job of that pgrp exists."""
        with translated(), self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.jobs.c.label).where(t.jobs.c.pgrp == pgrp)).all()
        if not rows:
            return None
        return {r.label for r in rows}

    def finished_before(self, cutoff: float, limit: int) -> list[int]:
        """Ids of finished jobs (complete, failed, killed) last changed before ``cutoff``."""
        with translated(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.jobs.c.id)
                .where(t.jobs.c.status.in_(sorted(TERMINAL)), t.jobs.c.lastupdate < cutoff)
                .order_by(t.jobs.c.id)
                .limit(limit)
            ).all()
        return [int(r.id) for r in rows]

    def pgrp_users(self, pgrp: int) -> set[str]:
        """The owners of the stored jobs of ``pgrp``."""
        with translated(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.jobs.c.user).where(t.jobs.c.pgrp == pgrp).distinct()
            ).all()
        return {r.user for r in rows}

    def scalar(self, stmt: sa.Select[Any]) -> Any:
        with translated(), self.engine.connect() as conn:
            return conn.execute(stmt).scalar()


def _purge(conn: sa.Connection, job_ids: list[int], before: float | None) -> None:
    """Retention: delete ``job_ids`` with everything of theirs, and the events and callback
    runs of no job older than ``before``."""
    if job_ids:
        for column in (t.events.c.job, t.callback_runs.c.job_id, t.callbacks.c.job_id,
                       t.work.c.job_id, t.subjobs.c.job_id, t.jobs.c.id):  # fmt: skip
            conn.execute(sa.delete(column.table).where(column.in_(job_ids)))
    if before is not None:
        conn.execute(sa.delete(t.events).where(t.events.c.job.is_(None), t.events.c.time < before))
        runs = t.callback_runs
        old = sa.and_(runs.c.job_id.is_(None), runs.c.ended.is_not(None), runs.c.ended < before)
        conn.execute(sa.delete(runs).where(old))
