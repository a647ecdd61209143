"""The real engine against the state machine of ``model.lifecycle``: random sequences of pulls,
reports and verbs on one job, through ``Farm`` (the engine thread and the store), read back
from the database after every step.

Each example is a new job on the same farm (removed at its end): hypothesis examples share the
``db_url`` fixture, so this runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_engine import Farm, job
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triggerfish.api import schemas as s
from triggerfish.engine import control as ctl
from triggerfish.engine import verbs
from triggerfish.errors import Conflict, NotFound, ValidationError
from triggerfish.model import lifecycle as lc
from triggerfish.model.lifecycle import Event
from triggerfish.model.status import TERMINAL, Status, aggregate, tally_of

REOPENING_VERBS = {"retry", "requeue", "complete"}  # docs/jobs.md, docs/dispatch-verbs.md
# and unblock of a held job without agenda starts it anew (docs/jobs.md, Statuses)
REOPENING_INSTANCE = REOPENING_VERBS | {"unblock"}
ITEM_EVENT = {
    "kill": Event.KILL, "block": Event.BLOCK, "unblock": Event.UNBLOCK, "retry": Event.RETRY,
    "requeue": Event.REQUEUE, "suspend": Event.SUSPEND, "resume": Event.RESUME,
    "interrupt": Event.TAKE_BACK, "migrate": Event.TAKE_BACK, "complete": Event.COMPLETE,
}  # fmt: skip
JOB_VERBS = ("kill", "block", "unblock", "retry", "requeue", "suspend", "resume", "interrupt",
             "migrate", "retire")  # fmt: skip
SUB_VERBS = ("kill", "block", "unblock", "retry", "requeue", "suspend", "resume", "interrupt")

Step = tuple[str, str, int]

steps = st.one_of(
    st.tuples(st.just("pull"), st.sampled_from(["h1", "h2"]), st.just(0)),
    st.tuples(st.just("report"), st.sampled_from(["complete", "failed"]), st.integers(0, 7)),
    st.tuples(st.just("job"), st.sampled_from(JOB_VERBS), st.just(0)),
    st.tuples(st.just("item"), st.sampled_from(sorted(ITEM_EVENT)), st.integers(0, 7)),
    st.tuples(st.just("sub"), st.sampled_from(SUB_VERBS), st.integers(0, 7)),
)


@pytest.fixture
def farm(db_url: str) -> Iterator[Farm]:
    f = Farm(db_url)
    yield f
    f.stop()


def _view(farm: Farm, job_id: int, agenda: bool) -> tuple[str, dict[str, str], dict[str, int]]:
    """The job's status, its units' (items, or instances of a job without agenda), its tally."""
    j = farm.job(job_id)
    if agenda:
        units = {w["name"]: w["status"] for w in j["agenda"]}
    else:
        units = {str(x["subid"]): x["status"] for x in j["subjobs"]}
    return j["status"], units, j["todotally"]


def _check(view: tuple[str, dict[str, str], dict[str, int]], n: int) -> None:
    status, items, tally = view
    units = list(items.values())
    assert len(units) == n
    assert {k: v for k, v in tally.items() if v} == {k: v for k, v in tally_of(units).items() if v}
    assert sum(tally.values()) == n
    if status in TERMINAL:
        assert all(u in TERMINAL for u in units), view
    if status not in lc.HELD_JOB:
        if Status.RUNNING in units:
            assert status == Status.RUNNING, view
        if all(u in TERMINAL for u in units):
            assert status == aggregate(tally_of(units)), view
        else:
            assert status in (Status.PENDING, Status.RUNNING), view


def _held(farm: Farm) -> list[tuple[str, str]]:
    return [(h, t) for h in ("h1", "h2") for t in sorted(farm.held.get(h, {}))]


def _apply(
    farm: Farm, job_id: int, n: int, cpus: int, agenda: bool, step: Step
) -> tuple[bool, str | None]:
    """Apply ``step``; (whether it was allowed, the unit it moved or named)."""
    where, what, k = step
    if where == "pull":
        farm.pull(what)
        return True, None
    if where == "report":
        held = _held(farm)
        if not held:
            return True, None
        host, token = held[k % len(held)]
        a = farm.held[host][token]
        resp = farm.report(host, token, "complete" if what == "complete" else "failed")
        # a stale token (its item was taken back, maybe handed out again) moves nothing
        unit = a.work if agenda else str(a.subid)
        return True, None if token in resp.ignored else unit
    name = str(k % n + 1)
    target = {"job": str(job_id), "item": f"{job_id}:{name}", "sub": f"{job_id}.{k % cpus}"}[where]
    req = s.ControlRequest(action=what, targets=[target])  # type: ignore[arg-type]
    try:
        farm.run(verbs.control if what in verbs.ACTIONS else ctl.control, req)
    except (Conflict, ValidationError, NotFound):
        return False, None
    if where == "item":
        return True, name
    return True, None if where == "job" or agenda else str(k % cpus)


def _check_step(
    step: Step, before: tuple[str, dict[str, str], dict[str, int]],
    after: tuple[str, dict[str, str], dict[str, int]], item: str | None, agenda: bool,
) -> None:  # fmt: skip
    where, what, _ = step
    verb = what if where in ("job", "item", "sub") else where
    for name, old in before[1].items():
        new = after[1][name]
        if old in TERMINAL and new != old:
            allowed = REOPENING_VERBS if agenda else REOPENING_INSTANCE
            assert verb in allowed, f"unit {name}: {old} -> {new} by {step}"
    if before[0] in TERMINAL and after[0] != before[0]:
        assert verb in REOPENING_VERBS, f"job: {before[0]} -> {after[0]} by {step}"
    if where in ("item", "sub") and item is not None:  # the unit moved as the table says
        old = before[1][item]
        assert after[1][item] == lc.unit_next(old, ITEM_EVENT[what]), (step, old, after[1][item])
    if where == "report" and item is not None:
        old, new = before[1][item], after[1][item]
        ev = Event.REPORT_COMPLETE if what == "complete" else Event.REPORT_FAILED
        moved = lc.unit_next(old, ev)
        assert moved is not None, f"a report of {item} accepted while it is {old}"
        if what == "failed" and moved == Status.FAILED:
            moved = Status.PENDING if new != Status.FAILED else moved  # retried at once
        # the report's answer may hand the same item, pending, to its instance again
        assert new in (moved, lc.unit_next(moved, Event.START)), (step, old, new)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    agenda=st.booleans(),
    n=st.integers(1, 4),
    cpus=st.integers(1, 3),
    retries=st.integers(0, 1),
    held=st.booleans(),
    sequence=st.lists(steps, min_size=5, max_size=40),
)
def test_engine_follows_the_state_machine(
    farm: Farm, agenda: bool, n: int, cpus: int, retries: int, held: bool, sequence: list[Step]
) -> None:
    fields: dict[str, Any] = {"cpus": cpus, "retrywork": retries, "retrysubjob": retries}
    if held:
        fields["status"] = "blocked"
    job_id = farm.submit(job(f"1-{n}" if agenda else None, **fields)).jobs[0].id
    n = n if agenda else cpus
    farm.register("h1", 2)
    farm.register("h2", 1)
    try:
        view = _view(farm, job_id, agenda)
        _check(view, n)
        for step in sequence:
            ok, item = _apply(farm, job_id, n, cpus, agenda, step)
            after = _view(farm, job_id, agenda)
            if not ok:
                assert after == view, f"refused {step} changed the job"
            _check(after, n)
            _check_step(step, view, after, item, agenda)
            view = after
    finally:
        farm.control("remove", job_id)
