"""The passive preemption decision (engine.preempt.rival) on in-memory engine objects."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from triggerfish.engine.objects import HostRT, JobRT, SubRT
from triggerfish.engine.openjobs import OpenJobs
from triggerfish.engine.preempt import rival
from triggerfish.model.jobspec import JobSpec


class _State:
    """What ``rival`` reads of the engine's state: the runnable jobs in dispatch order."""

    def __init__(self, *jobs: JobRT) -> None:
        self.runnable = {j.id for j in jobs}
        self.jobs = {j.id: j for j in jobs}
        self.yielding: dict[int, dict[int, str]] = {}  # (instances asked to yield: preempt-self)
        self.busy: set[int] = set()  # (runnable jobs known to have no idle instance)
        self.unlicensed: set[int] = set()  # (runnable jobs known to wait for a license)

    def ordered_runnable(self) -> list[JobRT]:
        return sorted(self.jobs.values(), key=lambda j: (j.priority, j.id))

    def open_runnable(self) -> list[JobRT]:
        return self.ordered_runnable()

    def open_jobs(self) -> OpenJobs:
        return OpenJobs(self.ordered_runnable())


def _job(id: int, priority: int, *, idle: bool = True, **fields: Any) -> JobRT:
    job = JobRT(id, id, None, "", f"j{id}", "u", priority, "running", "cmdrange", 1, 1, "",
                {}, dict(fields), 0.0)  # fmt: skip
    job.subs[0] = SubRT(id, 0, "pending" if idle else "running")
    return job


HOST = HostRT("h1", "active", 1, {}, ["gpu"], None, "s", 0.0, 0.0)


def _rival(running: JobRT, *others: JobRT) -> JobRT | None:
    return rival(_State(running, *others), HOST, running)  # type: ignore[arg-type]


def test_a_more_urgent_job_takes_the_slot() -> None:
    low, high = _job(1, 9000, idle=False), _job(2, 1)
    assert _rival(low, high) is high


def test_same_priority_the_older_job_goes_first() -> None:
    old, new = _job(1, 50, idle=False), _job(2, 50)
    assert _rival(old, new) is None
    assert _rival(_job(2, 50, idle=False), _job(1, 50)).id == 1  # type: ignore[union-attr]


def test_nothing_better_alone_or_behind() -> None:
    job = _job(1, 10, idle=False)
    assert _rival(job) is None
    assert _rival(job, _job(2, 20)) is None


def test_preemption_none_keeps_the_slot() -> None:
    assert _rival(_job(1, 9000, idle=False, preemption="none"), _job(2, 1)) is None


def test_a_better_job_that_cannot_use_this_slot_does_not_take_it() -> None:
    low = _job(1, 9000, idle=False)
    elsewhere = _job(2, 1, hosts=["h2"])
    busy = _job(3, 2, idle=False)  # its one instance runs already
    other_group = _job(4, 3, groups=["cpu"])
    assert _rival(low, elsewhere, busy, other_group) is None
    usable = _job(5, 4)
    assert _rival(low, elsewhere, busy, other_group, usable) is usable


def test_preemption_field_is_validated() -> None:
    assert JobSpec(name="x").preemption == "passive"
    assert JobSpec(name="x", preemption="none").preemption == "none"
    with pytest.raises(pydantic.ValidationError):
        JobSpec(name="x", preemption="sometimes")
