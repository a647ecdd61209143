"""The state machine of ``model.lifecycle``: its tables, and random sequences of events applied
to a job of N units (work items, or instances of a job without agenda) through it.

The sequences drive a small sketch of a job made of the pure functions only, in the order the
engine applies them (``engine.control``, ``engine.verbs``, ``engine.workers``): a verb refused
by the 409 rules changes nothing; an allowed one moves the units by the tables, then the job
either takes the verb's own status or follows its work (``derive``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.model import lifecycle as lc
from triggerfish.model.lifecycle import Event
from triggerfish.model.status import TALLY_KEYS, TERMINAL, Status, aggregate, tally_of

P, B, R, S = Status.PENDING, Status.BLOCKED, Status.RUNNING, Status.SUSPENDED
C, F, K, RT = Status.COMPLETE, Status.FAILED, Status.KILLED, Status.RETRYING

# What may take a unit, or a job, out of an end (docs/jobs.md "Control": retry, requeue;
# "Statuses": unblock of a held job starts it anew; docs/dispatch-verbs.md "complete": of a
# failed or killed item). Unit verbs are written ``unit:VERB``, verbs on the job ``job:VERB``.
REOPENS_UNIT = {"unit:retry", "unit:requeue", "unit:complete", "job:retry", "job:requeue"}
REOPENS_INSTANCE = REOPENS_UNIT | {"job:unblock"}  # (of a job without agenda)
REOPENS_JOB = REOPENS_UNIT

SYSTEM = {  # what workers and the engine's timers do to a unit
    "start": Event.START,
    "report-complete": Event.REPORT_COMPLETE,
    "report-failed": Event.REPORT_FAILED,
    "report-retry": Event.REPORT_RETRY,
    "retry-due": Event.RETRY_DUE,
    "lost": Event.TAKE_BACK,
}
UNIT_CONTROL = {  # engine.control, on an instance or item
    "kill": Event.KILL,
    "block": Event.BLOCK,
    "unblock": Event.UNBLOCK,
    "retry": Event.RETRY,
    "requeue": Event.REQUEUE,
}
UNIT_DISPATCH = {  # engine.verbs, on an item or instance
    "suspend": Event.SUSPEND,
    "resume": Event.RESUME,
    "interrupt": Event.TAKE_BACK,
    "migrate": Event.TAKE_BACK,
    "complete": Event.COMPLETE,
}
JOB_CONTROL = ("kill", "block", "unblock", "retry", "requeue")
JOB_DISPATCH = ("suspend", "resume", "interrupt", "migrate", "retire")


@dataclass
class Sketch:
    """A job through the pure model: its status and its units' statuses."""

    kind: lc.Kind  # "work" (a job with an agenda) or "instance" (a job without)
    units: list[str]
    slots: int  # instances of a job with an agenda: how many items may run at once
    releasable: bool  # a callback of the job may release blocked work
    status: str = P
    taken_back: bool = False
    moves: list[tuple[str, str, str, str]] = field(default_factory=list)  # what, old, new, cause

    def tally(self) -> dict[str, int]:
        return tally_of(self.units)

    # ------------------------------------------------------------ units

    def _move(self, i: int, new: str | None, cause: str) -> None:
        old = self.units[i]
        if new is None or new == old:
            return
        if old == R and new == P:
            self.taken_back = True
        self.units[i] = new
        self.moves.append((f"unit {i}", old, new, cause))

    def _set_job(self, new: str, cause: str) -> None:
        if new != self.status:
            self.moves.append(("job", self.status, new, cause))
            self.status = new

    def derive(self, cause: str) -> None:
        if self.status in lc.HELD_JOB:
            return
        taken_back, self.taken_back = self.taken_back, False
        new = lc.derive(
            self.tally(), self.status, taken_back=taken_back, may_release=lambda: self.releasable
        )
        self._set_job(new, cause)

    def _release(self, cause: str) -> None:
        """``engine.control._release``: the job follows its work again."""
        for i, u in enumerate(self.units):
            self._move(i, lc.released(u, agenda=self.kind == "work"), cause)
        self._set_job(P, cause)
        self.derive(cause)

    def system(self, name: str, i: int) -> None:
        ev = SYSTEM[name]
        if ev is Event.START:
            live = sum(u in lc.LIVE for u in self.units)
            if self.status not in (P, R) or (self.kind == "work" and live >= self.slots):
                return  # not dispatched: the job is not runnable, or no instance is idle
        self._move(i, lc.unit_next(self.units[i], ev), name)
        self.derive(name)

    def unit_control(self, verb: str, i: int) -> bool:
        why = lc.control_refusal(verb, self.kind, self.units[i], agenda=self.kind == "work")
        if why is not None:
            return False
        new = lc.unit_next(self.units[i], UNIT_CONTROL[verb])
        assert new is not None, f"{verb} allowed on {self.units[i]} but the table has no move"
        self._move(i, new, f"unit:{verb}")
        if new in (P, B) and self.status in TERMINAL:
            self._release(f"unit:{verb}")
        else:
            self.derive(f"unit:{verb}")
        return True

    def unit_dispatch(self, verb: str, i: int) -> bool:
        why = lc.dispatch_refusal(verb, self.kind, self.units[i], {self.units[i]}, self.status)
        if why is not None:
            return False
        self._move(i, lc.unit_next(self.units[i], UNIT_DISPATCH[verb]), f"unit:{verb}")
        if verb == "complete":  # engine.verbs._settle
            held = self.status in (B, S, Status.WAITING, K)
            if held and all(u in TERMINAL for u in self.units):
                self._set_job(P, "unit:complete")
        self.derive(f"unit:{verb}")
        return True

    # ------------------------------------------------------------ the whole job

    def job_verb(self, verb: str) -> bool:
        ended = any(u in lc.FAILED_OR_KILLED for u in self.units)
        if verb in JOB_CONTROL:
            why = lc.control_refusal(verb, "job", self.status, ended_units=ended)
        else:
            why = lc.dispatch_refusal(verb, "job", self.status, set(self.units), self.status)
        if why is not None:
            return False
        cause = f"job:{verb}"
        for i, u in enumerate(self.units):
            new = lc.job_verb_unit(verb, self.status, u, agenda=self.kind == "work")
            self._move(i, new, cause)
        if verb in lc.JOB_VERB_STATUS:
            self._set_job(lc.JOB_VERB_STATUS[verb], cause)
        elif verb == "unblock" or (verb == "retry" and self.status in TERMINAL):
            self._release(cause)
        elif verb in ("resume", "interrupt", "migrate", "retire") and self.status in (S, B):
            # the job's own hold is lifted: it follows its work (engine.verbs._job_status)
            self._set_job(R if self.tally()[R] else P, cause)
            self.derive(cause)
        else:
            self.derive(cause)
        return True


# ---------------------------------------------------------------- invariants


def check(job: Sketch, n: int) -> None:
    t = job.tally()
    assert set(t) == set(TALLY_KEYS)
    assert all(v >= 0 for v in t.values())
    assert sum(t.values()) == n, t
    if job.kind == "work":
        assert sum(u in lc.LIVE for u in job.units) <= job.slots
    if job.status in TERMINAL:
        assert all(u in TERMINAL for u in job.units), (job.status, job.units)
    if job.status not in lc.HELD_JOB:
        if t[R]:
            assert job.status == R
        if all(u in TERMINAL for u in job.units):
            assert job.status == aggregate(t)  # failed, else killed, else complete
        else:
            assert job.status in (P, R), (job.status, job.units)
        if all(u == C for u in job.units):
            assert job.status == C
    for what, old, new, cause in job.moves:
        if old in TERMINAL:
            if what == "job":
                allowed = REOPENS_JOB
            else:
                allowed = REOPENS_UNIT if job.kind == "work" else REOPENS_INSTANCE
            # kill of a job: a killed job is ended; nothing else leaves an end
            assert cause in allowed, f"{what}: {old} -> {new} by {cause}"
    job.moves.clear()


Step = tuple[str, str, int]  # (where: system, unit-control, unit-dispatch, job; verb; unit)


def step_strategy(n: int) -> st.SearchStrategy[Step]:
    unit = st.integers(0, n - 1)
    return st.one_of(
        st.tuples(st.just("system"), st.sampled_from(sorted(SYSTEM)), unit),
        st.tuples(st.just("unit-control"), st.sampled_from(sorted(UNIT_CONTROL)), unit),
        st.tuples(st.just("unit-dispatch"), st.sampled_from(sorted(UNIT_DISPATCH)), unit),
        st.tuples(st.just("job"), st.sampled_from(JOB_CONTROL + JOB_DISPATCH), st.just(0)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Sketch, list[Step]]:
    kind: lc.Kind = draw(st.sampled_from(["work", "instance"]))
    n = draw(st.integers(1, 6))
    initial = st.sampled_from([P, P, P, B, C]) if kind == "work" else st.sampled_from([P, P, B])
    units: list[str] = draw(st.lists(initial, min_size=n, max_size=n))
    job = Sketch(kind, units, slots=draw(st.integers(1, 3)), releasable=draw(st.booleans()))
    if draw(st.booleans()):
        job.status = B  # submitted held (status blocked, a dependency, after)
    job.derive("submit")
    return job, draw(st.lists(step_strategy(n), max_size=60))


def apply(job: Sketch, step: Step) -> bool:
    """Apply ``step``; whether it was allowed (a refused verb must change nothing)."""
    where, verb, i = step
    if where == "system":
        job.system(verb, i)
        return True
    if where == "unit-control":
        return job.unit_control(verb, i)
    if where == "unit-dispatch":
        return job.unit_dispatch(verb, i)
    return job.job_verb(verb)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_random_sequences_keep_the_invariants(scenario: tuple[Sketch, list[Step]]) -> None:
    job, steps = scenario
    n = len(job.units)
    job.moves.clear()
    check(job, n)
    for step in steps:
        before = (job.status, list(job.units))
        if not apply(job, step):
            assert (job.status, job.units) == before, f"refused {step} changed the job"
        check(job, n)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.booleans())
def test_a_job_run_to_the_end_completes(n: int, slots: int, releasable: bool) -> None:
    """Started and reported complete item after item, a job ends complete, running between."""
    job = Sketch("work", [P] * n, slots=slots, releasable=releasable)
    for i in range(n):
        job.system("start", i)
        assert job.status == R
        job.system("report-complete", i)
    assert job.status == C
    check(job, n)


# ---------------------------------------------------------------- the tables


@pytest.mark.parametrize("event", list(Event))
def test_only_the_documented_events_leave_an_end(event: Event) -> None:
    for status in TERMINAL:
        moved = lc.unit_next(status, event)
        if moved is not None and moved != status:
            assert event in lc.REOPENING, f"{event} moves {status} to {moved}"


@pytest.mark.parametrize("verb", JOB_CONTROL + JOB_DISPATCH)
@pytest.mark.parametrize("agenda", [True, False])
def test_verbs_on_a_job_reopen_ended_units_only_as_documented(verb: str, agenda: bool) -> None:
    reopening = ("retry", "requeue") if agenda else ("retry", "requeue", "unblock")
    for job_status in Status:
        for unit in TERMINAL:
            moved = lc.job_verb_unit(verb, job_status, unit, agenda=agenda)
            if moved is not None:
                assert verb in reopening, (verb, job_status, unit, moved)


@pytest.mark.parametrize("verb", sorted(UNIT_CONTROL))
def test_a_work_verb_is_allowed_exactly_where_the_table_moves(verb: str) -> None:
    for status in Status:
        allowed = lc.control_refusal(verb, "work", status) is None
        assert allowed == (lc.unit_next(status, UNIT_CONTROL[verb]) is not None), status


@pytest.mark.parametrize("verb", sorted(UNIT_DISPATCH))
def test_a_dispatch_verb_on_an_item_is_allowed_exactly_where_the_table_moves(verb: str) -> None:
    for status in Status:
        allowed = lc.dispatch_refusal(verb, "work", status, {status}, R) is None
        assert allowed == (lc.unit_next(status, UNIT_DISPATCH[verb]) is not None), status


def test_derive_follows_the_tally() -> None:
    def derive(status: str, releasable: bool = False, taken_back: bool = False, **n: int) -> str:
        t = {**dict.fromkeys(TALLY_KEYS, 0), **n}
        return lc.derive(t, status, taken_back=taken_back, may_release=lambda: releasable)

    assert derive(P, complete=3) == C
    assert derive(R, complete=2, failed=1, killed=1) == F
    assert derive(R, complete=2, killed=1) == K
    assert derive(P, running=1, pending=5) == R
    assert derive(P, pending=2, complete=1) == P
    assert derive(R, pending=2, complete=1) == R  # started: stays running while work is left
    assert derive(R, pending=2, taken_back=True) == P
    assert derive(R, blocked=2) == P  # held by hand only
    assert derive(R, blocked=2, releasable=True) == R  # a callback will release them
    assert derive(R, suspended=1) == P
    for held in lc.HELD_JOB:
        assert derive(held, complete=1) == held


def test_status_values_are_the_stored_strings() -> None:
    """Status members are the strings stored and sent (a StrEnum): no value changes."""
    assert {s.value for s in Status} == set(TALLY_KEYS)
    for s in Status:
        assert s == s.value and hash(s) == hash(s.value) and f"{s}" == s.value
    assert lc.STATUS_EVENT[RT] == "retry"
