"""Retention in the real engine, on both stores: old finished jobs go with everything of theirs;
unfinished jobs, and finished jobs changed since the cutoff, stay."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from helpers_engine import Farm, job

from triggerfish.engine.retention import purge
from triggerfish.store import tables as t


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def rows_of(farm: Farm, job_id: int) -> dict[str, int]:
    """How many rows of each table belong to ``job_id``."""
    columns = {"jobs": t.jobs.c.id, "work": t.work.c.job_id, "subjobs": t.subjobs.c.job_id,
               "events": t.events.c.job, "callbacks": t.callbacks.c.job_id,
               "runs": t.callback_runs.c.job_id}  # fmt: skip
    with farm.db.connect() as conn:
        return {
            name: conn.execute(
                sa.select(sa.func.count()).select_from(c.table).where(c == job_id)
            ).scalar_one()
            for name, c in columns.items()
        }


def host_events(farm: Farm) -> int:
    with farm.db.connect() as conn:
        q = sa.select(sa.func.count()).select_from(t.events).where(t.events.c.job.is_(None))
        return int(conn.execute(q).scalar_one())


def test_old_finished_jobs_go_and_the_rest_stays(farm: Farm) -> None:
    farm.submit(job("1-2", label="up"), job("1", label="down", dependency="link-complete-job-up"),
                job("1", label="held", status="blocked"))  # fmt: skip
    farm.register("h1", slots=2)
    farm.run_all("h1")
    assert (farm.status(1), farm.status(2), farm.status(3)) == ("complete", "complete", "blocked")
    before = {j: rows_of(farm, j) for j in (1, 2, 3)}
    assert before[2]["callbacks"] == 2 and before[2]["runs"] == 1 and before[1]["events"] > 5
    assert host_events(farm) > 0
    cutoff = time.time() + 1  # everything finished so far is old
    assert farm.run(purge, cutoff, 1) == [1]  # one job per batch when asked
    assert sum(rows_of(farm, 1).values()) == 0
    assert farm.run(purge, cutoff) == [2]
    assert sum(rows_of(farm, 2).values()) == 0
    assert rows_of(farm, 3) == before[3]  # unfinished: untouched
    assert host_events(farm) == 0  # events of no job older than the cutoff
    assert farm.run(purge, cutoff) == []
    farm.restart()  # what is left loads and still works
    farm.control("unblock", 3)
    farm.register("h1", slots=2)
    farm.run_all("h1")
    assert farm.status(3) == "complete"


def test_a_finished_job_changed_after_the_cutoff_stays(farm: Farm) -> None:
    farm.submit(job("1"))
    farm.register("h1")
    farm.run_all("h1")
    time.sleep(0.05)
    cutoff = time.time()  # the first end is older than this
    time.sleep(0.05)
    farm.control("retry", 1)  # changed again: it is not old, whatever its earlier end
    farm.run_all("h1")
    assert farm.status(1) == "complete"
    assert farm.run(purge, cutoff) == []
    assert rows_of(farm, 1)["jobs"] == 1
    assert farm.run(purge, time.time() + 1) == [1]
