"""The schema, as SQLAlchemy Core tables. Changes go through an Alembic migration too."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("pgrp", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("label", sa.String(255), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("user", sa.String(255), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("prototype", sa.String(64), nullable=False),  # or a job type's name
    sa.Column("cpus", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("todo", sa.Integer, nullable=False),
    sa.Column("todotally", sa.JSON, nullable=False),
    sa.Column("package", sa.JSON, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("timesubmit", sa.Float, nullable=False),
    sa.Column("timestart", sa.Float, nullable=True),
    sa.Column("timecomplete", sa.Float, nullable=True),
    sa.Column("lastupdate", sa.Float, nullable=False),
    sa.UniqueConstraint("pgrp", "label", name="uq_jobs_pgrp_label"),
)
# (status, id) and (user, id): a page of jobs of a status or user is an ordered range
sa.Index("ix_jobs_status_id", jobs.c.status, jobs.c.id)
sa.Index("ix_jobs_user_id", jobs.c.user, jobs.c.id)

subjobs = sa.Table(
    "subjobs",
    metadata,
    sa.Column("job_id", sa.Integer, primary_key=True),
    sa.Column("subid", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("token", sa.String(64), nullable=True),
    sa.Column("retry", sa.Integer, nullable=False),
    sa.Column("work", sa.String(256), nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("retry_at", sa.Float, nullable=True),
    sa.Column("timestart", sa.Float, nullable=True),
    sa.Column("timecomplete", sa.Float, nullable=True),
)

work = sa.Table(
    "work",
    metadata,
    sa.Column("job_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("subid", sa.Integer, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("token", sa.String(64), nullable=True),
    sa.Column("retry", sa.Integer, nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("retry_at", sa.Float, nullable=True),
    sa.Column("timestart", sa.Float, nullable=True),
    sa.Column("timecomplete", sa.Float, nullable=True),
    sa.Column("package", sa.JSON, nullable=True),  # the item's own; NULL when it has none
)
sa.Index("ix_work_job_seq", work.c.job_id, work.c.seq)

hosts = sa.Table(
    "hosts",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("properties", sa.JSON, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("cluster", sa.String(255), nullable=True),
    sa.Column("session", sa.String(64), nullable=True),
    sa.Column("last_seen", sa.Float, nullable=True),
    sa.Column("registered", sa.Float, nullable=True),
    # a lock (``triggerfish host lock``): who and when; NULL when the host is not locked
    sa.Column("locked_by", sa.String(255), nullable=True),
    sa.Column("locked_at", sa.Float, nullable=True),
    # the job types its worker runs (said at registration); NULL: none
    sa.Column("jobtypes", sa.JSON, nullable=True),
)

events = sa.Table(
    "events",
    metadata,
    # on SQLite the rowid itself (INTEGER PRIMARY KEY): no separate index for the key
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("job", sa.Integer, nullable=True),
    sa.Column("subid", sa.Integer, nullable=True),
    sa.Column("work", sa.String(256), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("data", sa.JSON, nullable=True),
)
sa.Index("ix_events_job_seq", events.c.job, events.c.seq)

callbacks = sa.Table(
    "callbacks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("job_id", sa.Integer, nullable=True),  # None: a global callback
    sa.Column("source", sa.String(16), nullable=False),  # job, dependency, global, universal
    sa.Column("triggers", sa.Text, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("user", sa.String(255), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("maximum", sa.Integer, nullable=True),
    sa.Column("catchup", sa.Boolean, nullable=False),
    sa.Column("latches", sa.JSON, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
sa.Index("ix_callbacks_job", callbacks.c.job_id)

callback_runs = sa.Table(
    "callback_runs",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("callback", sa.Integer, nullable=False),
    sa.Column("job_id", sa.Integer, nullable=True),
    sa.Column("event_seq", sa.BigInteger, nullable=False),
    sa.Column("bindings", sa.JSON, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", sa.Float, nullable=True),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)
sa.Index("ix_callback_runs_callback", callback_runs.c.callback, callback_runs.c.id)
sa.Index("ix_callback_runs_job", callback_runs.c.job_id, callback_runs.c.id)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("due", sa.Float, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
)

# global resources (licenses): their totals; what is in use is counted from what runs
resources = sa.Table(
    "resources",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("changed_by", sa.String(255), nullable=False),
    sa.Column("changed_at", sa.Float, nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),  # "" when none was given
    sa.Column("user", sa.String(255), nullable=False),  # the owner: its tasks are this user's
    sa.Column("params", sa.JSON, nullable=True),
    sa.Column("encoding", sa.String(16), nullable=False),
    sa.Column("options", sa.JSON, nullable=False),  # retries, timeout, priority, name, ...
    sa.Column("every", sa.Float, nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("policy", sa.String(8), nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("last_run", sa.Float, nullable=True),
    sa.Column("last_job", sa.Integer, nullable=True),
    sa.UniqueConstraint("target", "key", name="uq_schedules_target_key"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # user | worker
    sa.Column("permissions", sa.JSON, nullable=False),  # list of permission names
    sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 hex of the token
    sa.Column("created", sa.Float, nullable=False),
    sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
)

# who serves this database (store.lock): the row of the supervisor holding the lock, written
# once it holds it, so that a second one can say whose it is
supervisors = sa.Table(
    "supervisors",
    metadata,
    sa.Column("role", sa.String(16), primary_key=True),  # "active"
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("session", sa.Integer, nullable=True),  # PostgreSQL: the lock's backend pid
)
