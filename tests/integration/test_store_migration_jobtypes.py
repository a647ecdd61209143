"""Migration 0013 (issue 18) keeps what is stored: jobs, items and hosts of 0012 come through
with no package and no job types, and a job type's name fits the prototype column."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from triggerfish.store.db import open_engine
from triggerfish.store.migrate import alembic_config

JOB = (
    'INSERT INTO jobs (id, pgrp, pid, label, name, "user", priority, status, prototype, cpus, '
    "step, reason, todo, todotally, package, fields, timesubmit, lastupdate) VALUES "
    "(1, 1, NULL, 'a', 'j', 'u', 10, 'pending', {proto}, 1, 1, '', 1, '{{}}', "
    "'{{\"cmdline\": \"x\"}}', '{{}}', 1.0, 1.0)"
)


def test_an_upgrade_to_job_types_keeps_jobs_items_and_hosts(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0012")
        conn.exec_driver_sql(JOB.format(proto="'cmdrange'"))
        conn.exec_driver_sql(
            "INSERT INTO work (job_id, name, seq, status, retry, result) VALUES "
            "(1, '7', 0, 'complete', 0, '{\"out\": 1}')"
        )
        conn.exec_driver_sql(
            "INSERT INTO hosts (name, state, slots, properties, groups) "
            "VALUES ('h1', 'down', 2, '{}', '[]')"
        )
    engine.dispose()
    engine = open_engine(db_url)  # upgrades to the newest revision
    try:
        with engine.begin() as conn:
            job = conn.exec_driver_sql("SELECT prototype, label FROM jobs").one()
            work = conn.exec_driver_sql("SELECT name, status, result, package FROM work").one()
            host = conn.exec_driver_sql("SELECT name, slots, jobtypes FROM hosts").one()
            assert tuple(job) == ("cmdrange", "a")
            assert (work[0], work[1], work[3]) == ("7", "complete", None)
            assert "out" in str(work[2])
            assert tuple(host) == ("h1", 2, None)
            long = "t" * 64
            conn.exec_driver_sql(JOB.format(proto=f"'{long}'").replace("(1, 1,", "(2, 2,"))
            got = conn.exec_driver_sql("SELECT prototype FROM jobs WHERE id = 2").scalar()
            assert got == long
    finally:
        engine.dispose()
