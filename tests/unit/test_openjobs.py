"""The open jobs by dispatch class (engine.openjobs): the merged walk gives the jobs in
dispatch order, passes over the classes it is told to, and takes changes made meanwhile."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from triggerfish.engine.objects import JobRT
from triggerfish.engine.openjobs import OpenJobs, Walk, urgency

REQS = ["", "host.gpu=a100", "host.site=lon"]


def _job(id: int, priority: int, klass: int) -> JobRT:
    fields = {"requirements": REQS[klass % 3]} if klass < 3 else {"hosts": ["h1"]}
    return JobRT(id, id, None, "", f"j{id}", "u", priority, "pending", "cmdrange", 1, 1, "",
                 {}, fields, 0.0)  # fmt: skip


jobs_st = st.lists(st.tuples(st.integers(1, 5), st.integers(0, 3)), min_size=0, max_size=40)


def _open(specs: list[tuple[int, int]]) -> list[JobRT]:
    return sorted((_job(i + 1, p, k) for i, (p, k) in enumerate(specs)), key=urgency)


@given(jobs_st)
def test_the_walk_gives_every_job_in_dispatch_order(specs: list[tuple[int, int]]) -> None:
    jobs = _open(specs)
    assert list(Walk(OpenJobs(jobs), set())) == jobs


@given(jobs_st, st.sets(st.sampled_from(REQS)))
def test_a_class_skipped_is_passed_over(specs: list[tuple[int, int]], skipped: set[str]) -> None:
    jobs = _open(specs)
    skip = {(r, "", "", "") for r in skipped}
    got = list(Walk(OpenJobs(jobs), skip))  # type: ignore[arg-type]
    assert got == [j for j in jobs if j.dispatch_class() not in skip]


@given(jobs_st, st.integers(0, 39))
def test_a_job_dropped_during_the_walk_is_not_given(specs: list[tuple[int, int]], at: int) -> None:
    jobs = _open(specs)
    open_jobs = OpenJobs(jobs)
    walk = Walk(open_jobs, set())
    got = []
    for job in walk:
        got.append(job)
        if len(got) == at % max(1, len(jobs)) + 1:  # drop every job after this one
            for later in jobs[len(got) :]:
                if later.id % 2:
                    open_jobs.drop(later)
    n = len(got)
    cut = at % max(1, len(jobs)) + 1
    expected = jobs[:cut] + [j for j in jobs[cut:] if not j.id % 2]
    assert got == expected[:n] and n == len(expected)


def test_a_class_skipped_comes_back_after_reopen_from_where_the_walk_is() -> None:
    a, b, c, d = _job(1, 1, 1), _job(2, 2, 0), _job(3, 3, 1), _job(4, 4, 0)
    skip: set[tuple[str, str, str, str]] = set()
    walk = Walk(OpenJobs([a, b, c, d]), skip)
    assert next(walk) is a
    skip.add(("host.gpu=a100", "", "", ""))
    assert next(walk) is b  # (c, of a's class, is passed over)
    skip.clear()
    walk.reopen()
    assert list(walk) == [c, d]


def test_a_short_class_is_passed_over_until_licenses_come_back() -> None:
    a, b = _job(1, 1, 1), _job(2, 2, 0)
    open_jobs = OpenJobs([a, b])
    open_jobs.short.add(("host.gpu=a100", "", "", ""))
    assert list(Walk(open_jobs, set())) == [b]
    open_jobs.unshort()
    assert list(Walk(open_jobs, set())) == [a, b]
