"""The trigger index: exact keys, wildcards, pattern variables, removal, and no scanning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerfish.triggers import Key, TriggerIndex, compile_expr, parse
from triggerfish.triggers.index import SMALL_BUCKET, Match

Hit = tuple[int, int, tuple[tuple[str, str], ...]]


def hits(
    index: TriggerIndex, name: str, type_: str, job: int | None, extra: str | None
) -> set[Hit]:
    return {
        (m.callback_id, m.atom_no, tuple(m.bindings.items()))
        for m in index.match(name, type_, job, extra)
    }


def register(
    index: TriggerIndex, callback_id: int, text: str, job: int = 10, **labels: int
) -> None:
    c = compile_expr(parse(text), job_id=job, parent=None, labels=labels)
    for no, key in c.entries():
        index.add(callback_id, no, key)


def test_exact_key() -> None:
    index = TriggerIndex()
    register(index, 1, "complete-work-render-5", render=2)
    assert index.match("complete", "work", 2, "5") == [Match(1, 0, {})]
    assert index.match("complete", "work", 2, "6") == []
    assert index.match("complete", "work", 3, "5") == []
    assert index.match("failed", "work", 2, "5") == []
    assert index.match("complete", "subjob", 2, "5") == []


def test_job_atoms_match_job_events() -> None:
    index = TriggerIndex()
    register(index, 1, "complete-job-self && done-job-7")
    assert hits(index, "complete", "job", 10, None) == {(1, 0, ())}
    assert hits(index, "done", "job", 7, None) == {(1, 1, ())}


def test_wildcard_extra_matches_any_item() -> None:
    index = TriggerIndex()
    register(index, 1, "done-work-self-*")
    register(index, 2, "done-work-self")
    for frame in ("1", "2", "1-10"):
        assert hits(index, "done", "work", 10, frame) == {(1, 0, ()), (2, 0, ())}
    assert hits(index, "done", "work", 11, "1") == set()


def test_host_wildcards() -> None:
    index = TriggerIndex()
    register(index, 1, "down-host-*-render07")
    register(index, 2, "down-host-*-*")
    register(index, 3, "assigned-host-self-*")
    # a host event belongs to no job
    assert hits(index, "down", "host", None, "render07") == {(1, 0, ()), (2, 0, ())}
    assert hits(index, "down", "host", None, "render08") == {(2, 0, ())}
    # `assigned` names the job it assigned
    assert hits(index, "assigned", "host", 10, "render08") == {(3, 0, ())}
    assert hits(index, "assigned", "host", 11, "render08") == set()


def test_pattern_variables_bind_the_extra() -> None:
    index = TriggerIndex()
    register(index, 1, "complete-work-ribgen-$f && complete-work-render-$f", ribgen=1, render=2)
    register(index, 2, "down-host-*-$h")
    assert index.match("complete", "work", 1, "17") == [Match(1, 0, {"f": "17"})]
    assert index.match("complete", "work", 2, "1-10") == [Match(1, 1, {"f": "1-10"})]
    assert index.match("complete", "job", 1, None) == []  # nothing to bind
    assert index.match("down", "host", None, "r7") == [Match(2, 0, {"h": "r7"})]


def test_all_kinds_together() -> None:
    index = TriggerIndex()
    register(index, 1, "complete-work-render-5", render=2)
    register(index, 2, "complete-work-render-*", render=2)
    register(index, 3, "complete-work-render-$f", render=2)
    register(index, 4, "complete-work-render-6", render=2)
    assert hits(index, "complete", "work", 2, "5") == {
        (1, 0, ()),
        (2, 0, ()),
        (3, 0, (("f", "5"),)),
    }


def test_one_callback_with_the_same_key_twice() -> None:
    index = TriggerIndex()
    register(index, 1, "done-job-self && done-job-self")
    assert hits(index, "done", "job", 10, None) == {(1, 0, ()), (1, 1, ())}
    assert len(index) == 2
    assert index.remove(1) == 2
    assert len(index) == 0


def test_adding_twice_is_idempotent() -> None:
    index = TriggerIndex()
    key: Key = ("done", "job", 1, None)
    index.add(1, 0, key)
    index.add(1, 0, key)
    index.add(1, 0, ("done", "work", 1, "$f"))
    index.add(1, 0, ("done", "work", 1, "$f"))
    assert len(index) == 2
    assert index.match("done", "job", 1, None) == [Match(1, 0, {})]
    with pytest.raises(ValueError):  # one pattern variable per callback
        index.add(1, 1, ("done", "work", 1, "$g"))


def test_remove() -> None:
    index = TriggerIndex()
    register(index, 1, "complete-work-a-5 && complete-work-a-$f && done-job-a", a=2)
    register(index, 2, "complete-work-a-5", a=2)
    assert 1 in index and len(index) == 4
    assert index.remove(1) == 3
    assert 1 not in index and len(index) == 1
    assert index.match("complete", "work", 2, "5") == [Match(2, 0, {})]
    assert index.match("done", "job", 2, None) == []
    assert index.remove(1) == 0
    assert index.remove(2) == 1
    assert len(index) == 0
    assert index.match("complete", "work", 2, "5") == []


def test_big_buckets_add_and_remove() -> None:
    index = TriggerIndex()
    key: Key = ("complete", "job", 1, None)
    n = SMALL_BUCKET * 3
    for cb in range(n):
        index.add(cb, 0, key)
        index.add(cb, 1, key)
    assert len(index.match("complete", "job", 1, None)) == 2 * n
    for cb in range(0, n, 2):
        assert index.remove(cb) == 2
    assert {m.callback_id for m in index.match("complete", "job", 1, None)} == set(range(1, n, 2))
    for cb in range(1, n, 2):
        index.remove(cb)
    assert index.match("complete", "job", 1, None) == [] and len(index) == 0


def test_matching_does_not_scan() -> None:
    """The lookups an event costs do not depend on how many atoms cannot match it."""
    index = TriggerIndex()
    register(
        index, 0, "complete-work-render-5 || complete-work-render-$f || done-job-render", render=2
    )
    event = ("complete", "work", 2, "5")

    def probes() -> int:
        before = index.probes
        assert len(index.match(*event)) == 2
        return index.probes - before

    alone = probes()
    assert alone <= 4
    for cb in range(1, 20_001):  # other jobs, frames, names and variables
        job = 100 + cb % 50
        index.add(cb, 0, ("complete", "work", job, str(cb)))
        index.add(cb, 1, ("complete", "work", job, "$g"))
        index.add(cb, 2, ("failed", "work", 2, str(cb)))
    assert len(index) == 60_003
    assert probes() == alone
    # an event no atom listens to costs one lookup
    before = index.probes
    assert index.match("running", "work", 2, "5") == []
    assert index.probes - before == 1


# ---------------------------------------------------------------- against a brute-force model


names = st.sampled_from(["complete", "done"])
types = st.sampled_from(["work", "host"])
jobs = st.one_of(st.none(), st.integers(1, 3))
# frame numbers (kept in an array), names like them that are other work names, huge numbers
literal = ["1", "2", "10", "0", "010", "0010", "1-10", "r7", "\u0661", str(10**17)]
extras = st.sampled_from([None, "$f", "$g", *literal])
keys = st.tuples(names, types, jobs, extras)
events = st.tuples(names, types, jobs, st.sampled_from([None, *literal]))


def model_match(key: Key, event: tuple[str, str, int | None, str | None]) -> dict[str, str] | None:
    name, type_, job, extra = key
    if (name, type_) != event[:2] or (job is not None and job != event[2]):
        return None
    if extra is None:
        return {}
    if extra.startswith("$"):
        return None if event[3] is None else {extra[1:]: event[3]}
    return {} if extra == event[3] else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), keys), max_size=30),
    st.lists(st.integers(0, 5), max_size=3),
    st.lists(events, min_size=1, max_size=5),
)
def test_index_agrees_with_a_linear_scan(
    added: list[tuple[int, int, Key]],
    removed: list[int],
    evs: list[tuple[str, str, int | None, str | None]],
) -> None:
    index = TriggerIndex()
    model: set[tuple[int, int, Key]] = set()
    key_of: dict[tuple[int, int], Key] = {}
    for cb, no, key in added:
        if key[3] is not None and key[3].startswith("$"):  # one variable per callback
            key = (*key[:3], f"$v{cb % 2}")
        key = key_of.setdefault((cb, no), key)  # an atom has one key
        index.add(cb, no, key)
        model.add((cb, no, key))
    for cb in removed:
        index.remove(cb)
        model = {m for m in model if m[0] != cb}
    assert len(index) == len(model)
    for event in evs:
        expected = set()
        for cb, no, key in model:
            bindings = model_match(key, event)
            if bindings is not None:
                expected.add((cb, no, tuple(bindings.items())))
        got = [(m.callback_id, m.atom_no, tuple(m.bindings.items())) for m in index.match(*event)]
        assert len(got) == len(set(got))
        assert set(got) == expected
