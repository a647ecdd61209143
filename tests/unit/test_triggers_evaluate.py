"""The firing rules (SPEC §3.3) as a state machine, and catch-up of terminal states."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.errors import ValidationError
from triggerfish.triggers import (
    Firing,
    Latches,
    Program,
    catch_up,
    compile_expr,
    parse,
    reached,
    starts_latched,
)


def latches(text: str, maximum: int | None = None) -> Latches:
    return Latches(Program.of(parse(text)), maximum=maximum)


def fire(state: Latches, *atoms: int, **bindings: str) -> list[Firing]:
    return state.on_event([(no, bindings) for no in atoms])


def counts(firings: Iterable[Firing]) -> list[int]:
    return [f.count for f in firings]


# ---------------------------------------------------------------- latching and reset


def test_and_latches_then_fires_once_then_resets() -> None:
    s = latches("complete-job-a && complete-job-b")
    assert fire(s, 0) == []
    assert s.latched == {0}
    assert fire(s, 0) == []  # latching again changes nothing
    assert fire(s, 1) == [Firing(1)]
    assert s.latched == frozenset() and s.count == 1
    assert fire(s, 1) == []  # reset: needs both again
    assert fire(s, 0) == [Firing(2)]


def test_one_atom_fires_on_every_match() -> None:
    s = latches("done-work-self-*")
    assert counts(fire(s, 0) + fire(s, 0) + fire(s, 0)) == [1, 2, 3]


def test_or_fires_on_each_matching_event() -> None:
    s = latches("complete-job-a || failed-job-a")
    assert counts(fire(s, 0)) == [1]
    assert counts(fire(s, 1)) == [2]


def test_one_event_latches_all_its_atoms_before_evaluating() -> None:
    s = latches("done-job-a || done-job-a")
    assert counts(fire(s, 0, 1)) == [1]  # one event: one firing
    s = latches("done-job-a && done-job-a")
    assert counts(fire(s, 0, 1)) == [1]
    assert s.on_match(0) == []


def test_nested_expression() -> None:
    s = latches("(complete-job-a && complete-job-b) || complete-job-c")
    assert fire(s, 0) == []
    assert counts(fire(s, 2)) == [1]  # c alone; the latch of a is reset too
    assert fire(s, 1) == []
    assert counts(fire(s, 0)) == [2]


def test_maximum() -> None:
    s = latches("done-work-self-*", maximum=2)
    assert counts(fire(s, 0) + fire(s, 0) + fire(s, 0)) == [1, 2]
    assert s.exhausted
    assert fire(s, 0) == []
    assert s.count == 2


def test_maximum_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        latches("done-job-a", maximum=0)


def test_count_carries_on() -> None:
    s = Latches(Program.of(parse("done-job-a")), maximum=3, count=2)
    assert counts(fire(s, 0)) == [3]
    assert s.exhausted


def test_unknown_atom_number() -> None:
    with pytest.raises(ValueError):
        fire(latches("done-job-a"), 1)


# ---------------------------------------------------------------- pattern variables


def test_pattern_variable_fires_once_per_binding() -> None:
    s = latches("complete-work-ribgen-$f && complete-work-render-$f")
    assert fire(s, 0, f="1") == []
    assert fire(s, 0, f="2") == []
    assert fire(s, 1, f="3") == []
    assert s.pending == {"1": {0}, "2": {0}, "3": {1}}
    assert fire(s, 1, f="2") == [Firing(1, {"f": "2"})]
    assert fire(s, 1, f="1") == [Firing(2, {"f": "1"})]
    assert s.pending == {"3": {1}}
    assert fire(s, 0, f="3") == [Firing(3, {"f": "3"})]
    assert s.pending == {}


def test_atoms_sharing_a_variable_must_agree() -> None:
    s = latches("complete-work-a-$f && complete-work-b-$f")
    assert fire(s, 0, f="1") == []
    assert fire(s, 1, f="2") == []  # 1 and 2 disagree: no firing
    assert s.pending == {"1": {0}, "2": {1}}


def test_a_binding_fires_again_after_its_reset() -> None:
    s = latches("complete-work-a-$f && complete-work-b-$f")
    fire(s, 0, f="1")
    assert counts(fire(s, 1, f="1")) == [1]
    assert fire(s, 1, f="1") == []  # frame 1 of b again (a retry): latched, waits for a
    assert counts(fire(s, 0, f="1")) == [2]


def test_one_atom_with_variable_fires_per_match() -> None:
    s = latches("done-work-self-$f")
    assert fire(s, 0, f="1") == [Firing(1, {"f": "1"})]
    assert fire(s, 0, f="1") == [Firing(2, {"f": "1"})]


def test_plain_atoms_latch_for_every_binding() -> None:
    s = latches("complete-job-setup && complete-work-render-$f")
    assert fire(s, 1, f="1") == []
    assert fire(s, 1, f="2") == []
    # setup completes: both waiting frames fire, in the order they latched
    assert fire(s, 0) == [Firing(1, {"f": "1"}), Firing(2, {"f": "2"})]
    assert s.latched == {0}  # setup stays latched for the frames to come
    assert fire(s, 1, f="3") == [Firing(3, {"f": "3"})]


def test_plain_atoms_alone_fire_without_binding() -> None:
    s = latches("complete-job-a || complete-work-b-$f")
    assert fire(s, 1, f="7") == [Firing(1, {"f": "7"})]
    assert fire(s, 0) == [Firing(2)]
    assert s.latched == frozenset()


def test_plain_and_bound_atoms_in_one_event() -> None:
    s = latches("complete-work-a-$f && complete-work-a-5")
    assert fire(s, 0, f="4") == []
    # the event complete-work-a-5 matches both atoms; the plain one completes f=4 as well
    assert s.on_event([(0, {"f": "5"}), (1, {})]) == [
        Firing(1, {"f": "4"}),
        Firing(2, {"f": "5"}),
    ]
    assert s.pending == {} and s.latched == {1}


def test_maximum_stops_in_the_middle_of_a_fan_out() -> None:
    s = latches("complete-job-setup && complete-work-render-$f", maximum=2)
    for f in "123":
        fire(s, 1, f=f)
    assert counts(fire(s, 0)) == [1, 2]
    assert s.exhausted and s.pending == {"3": {1}}


def test_a_bound_atom_needs_its_value() -> None:
    with pytest.raises(ValueError):
        fire(latches("done-work-self-$f"), 0)


# ---------------------------------------------------------------- JSON


def test_json_round_trip() -> None:
    program = Program.of(parse("complete-job-setup && complete-work-a-$f && complete-work-b-$f"))
    s = Latches(program, maximum=10)
    fire(s, 0)
    fire(s, 1, f="1")
    fire(s, 2, f="2")
    data = json.loads(json.dumps(s.to_json()))
    assert data == {"count": 0, "latched": [0], "pending": {"1": [1], "2": [2]}}
    t = Latches.from_json(program, data, maximum=10)
    assert t.to_json() == s.to_json()
    assert fire(t, 2, f="1") == [Firing(1, {"f": "1"})]
    assert "pending" in repr(t)


@pytest.mark.parametrize(
    "data",
    [
        {"latched": [5]},
        {"latched": ["x"]},
        {"pending": {"1": [0]}},  # atom 0 carries no variable
        {"latched": [1]},  # atom 1 does
        {"pending": [1]},
        {"count": "many"},
    ],
)
def test_json_that_does_not_fit(data: Mapping[str, object]) -> None:
    program = Program.of(parse("complete-job-setup && complete-work-a-$f"))
    with pytest.raises(ValidationError):
        Latches.from_json(program, data)


EXPRESSIONS = [
    "complete-job-a && complete-job-b",
    "(complete-job-a && complete-job-b) || complete-job-c",
    "complete-job-a || complete-work-b-$f && complete-work-c-$f",
    "complete-job-s && complete-work-b-$f && complete-work-c-$f",
    "done-work-self-$f",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXPRESSIONS), st.data())
def test_saving_and_restoring_at_any_point_changes_nothing(text: str, data: st.DataObject) -> None:
    program = Program.of(parse(text))
    event = st.lists(
        st.tuples(st.integers(0, program.size - 1), st.sampled_from(["1", "2", "3"])),
        min_size=1,
        max_size=3,
    )
    events = data.draw(st.lists(event, max_size=12))
    cut = data.draw(st.integers(0, len(events)))
    maximum = data.draw(st.one_of(st.none(), st.integers(1, 5)))
    variable = program.variable or "unused"

    def feed(state: Latches, evs: list[list[tuple[int, str]]]) -> list[Firing]:
        out: list[Firing] = []
        for ev in evs:
            out += state.on_event([(no, {variable: v}) for no, v in ev])
        return out

    straight = Latches(program, maximum=maximum)
    expected = feed(straight, events)
    first = Latches(program, maximum=maximum)
    got = feed(first, events[:cut])
    saved = json.loads(json.dumps(first.to_json()))
    second = Latches.from_json(program, saved, maximum=maximum)
    got += feed(second, events[cut:])
    assert got == expected
    assert second.to_json() == straight.to_json()
    assert counts(expected) == list(range(1, len(expected) + 1))
    assert maximum is None or len(expected) <= maximum


# ---------------------------------------------------------------- catch-up


STATUS = {
    ("job", 1, None): "complete",
    ("job", 2, None): "failed",
    ("job", 3, None): "running",
    ("work", 1, "5"): "complete",
    ("work", 1, "6"): "killed",
    ("subjob", 1, "0"): "failed",
}
ITEMS = {("work", 1): [("5", "complete"), ("6", "killed"), ("7", "pending")]}


def status_of(type_: str, job: int, extra: str | None) -> str | None:
    return STATUS.get((type_, job, extra))


def items_of(type_: str, job: int) -> list[tuple[str, str]]:
    return ITEMS.get((type_, job), [])


def test_reached() -> None:
    assert reached("complete", "complete") and not reached("complete", "failed")
    assert reached("done", "killed") and reached("done", "failed")
    assert not reached("done", "running") and not reached("done", None)
    assert not reached("running", "running")  # not a terminal state


@pytest.mark.parametrize(
    ("key", "latched"),
    [
        (("complete", "job", 1, None), True),
        (("done", "job", 1, None), True),
        (("done", "job", 2, None), True),
        (("failed", "job", 1, None), False),
        (("done", "job", 3, None), False),
        (("done", "job", 99, None), False),
        (("complete", "work", 1, "5"), True),
        (("done", "work", 1, "6"), True),
        (("complete", "work", 1, "6"), False),
        (("failed", "subjob", 1, "0"), True),
        (("complete", "work", 1, None), False),  # wildcard: no catch-up
        (("complete", "work", 1, "$f"), False),  # variable: see catch_up
        (("running", "job", 3, None), False),  # not terminal
        (("down", "host", None, "r1"), False),
    ],
)
def test_starts_latched(key: tuple[str, str, int | None, str | None], latched: bool) -> None:
    assert starts_latched(key, status_of) is latched


def test_dependency_on_a_finished_job_fires_at_once() -> None:
    c = compile_expr(parse("complete-job-1"), job_id=10, parent=None, labels={})
    s = Latches(c.program)
    assert s.on_event(catch_up(c, status_of)) == [Firing(1)]


def test_catch_up_of_pattern_variables_binds_each_finished_item() -> None:
    c = compile_expr(
        parse("done-work-ribgen-$f && complete-work-render-$f"),
        job_id=10,
        parent=None,
        labels={"ribgen": 1, "render": 2},
    )
    matches = catch_up(c, status_of, items_of)
    assert matches == [(0, {"f": "5"}), (0, {"f": "6"})]
    assert catch_up(c, status_of) == []  # without items_of: nothing
    s = Latches(c.program)
    assert s.on_event(matches) == []
    assert s.pending == {"5": {0}, "6": {0}}
    assert s.on_match(1, {"f": "6"}) == [Firing(1, {"f": "6"})]


def test_catch_up_only_some_atoms() -> None:
    c = compile_expr(parse("complete-job-1 && done-job-2"), job_id=10, parent=None, labels={})
    assert catch_up(c, status_of) == [(0, {}), (1, {})]
    assert catch_up(c, status_of, only=[1]) == [(1, {})]


def test_catch_up_after_a_label_resolves() -> None:
    c = compile_expr(
        parse("complete-job-ribgen && complete-job-self"), job_id=3, parent=None, labels={}
    )
    assert catch_up(c, status_of) == []  # the label waits
    resolved = c.resolve("ribgen", 1)
    assert catch_up(resolved, status_of, only=c.newly_resolved("ribgen")) == [(0, {})]
