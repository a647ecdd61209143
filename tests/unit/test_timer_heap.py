"""The timer core: ordering, replacement, cancellation, the fixed grid, missed timers."""

from __future__ import annotations

import random
from typing import Any

import pytest

from triggerfish.engine import timers
from triggerfish.engine.timers import Timer, Timers, fire_due, next_on_grid


class _State:
    """The two attributes ``fire_due`` needs of the engine's state."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.timers = Timers()
        self.fired: list[tuple[str, float]] = []


def _record(state: Any, timer: Timer) -> None:
    state.fired.append((timer.key, state.now))


def _repeat(state: Any, timer: Timer) -> None:
    state.fired.append((timer.key, state.now))
    p = timer.payload
    state.timers.add(timer.key, next_on_grid(p["anchor"], p["every"], state.now), timer.kind, p)


def _boom(state: Any, timer: Timer) -> None:
    raise RuntimeError("handler bug")


timers.register_handler("test-record", _record)
timers.register_handler("test-repeat", _repeat)
timers.register_handler("test-boom", _boom)


def test_pop_in_due_order_ties_in_order_added() -> None:
    tm = Timers()
    dues = [random.Random(7).uniform(0, 100) for _ in range(200)]
    for i, due in enumerate(dues):
        tm.add(f"k{i}", due, "test-record", {})
    tm.add("tie-a", 50.0, "test-record", {})
    tm.add("tie-b", 50.0, "test-record", {})
    out = []
    while (t := tm.pop_due(1000.0)) is not None:
        out.append(t)
    assert [t.due for t in out] == sorted(t.due for t in out)
    keys = [t.key for t in out]
    assert keys.index("tie-a") + 1 == keys.index("tie-b")
    assert len(tm) == 0


def test_never_pops_early() -> None:
    tm = Timers()
    tm.add("a", 10.0, "test-record", {})
    assert tm.pop_due(9.999) is None
    assert tm.next_due() == 10.0
    t = tm.pop_due(10.0)
    assert t is not None and t.key == "a"


def test_add_replaces_and_cancel_forgets() -> None:
    tm = Timers()
    tm.add("a", 10.0, "test-record", {"v": 1})
    tm.add("a", 20.0, "test-record", {"v": 2})
    assert len(tm) == 1
    assert tm.pop_due(15.0) is None  # the stale entry at 10 is skipped
    t = tm.get("a")
    assert t is not None and t.payload == {"v": 2}
    assert tm.cancel("a") is True
    assert tm.cancel("a") is False
    assert tm.next_due() is None
    assert tm.pop_due(100.0) is None


def test_stale_entries_are_compacted() -> None:
    tm = Timers()
    for i in range(1000):
        tm.add("same", float(i), "test-record", {})
    assert len(tm._heap) <= 130  # replaced entries do not pile up
    assert tm.next_due() == 999.0


def test_bad_arguments_are_refused() -> None:
    tm = Timers()
    with pytest.raises(ValueError, match="no handler"):
        tm.add("a", 1.0, "no-such-kind", {})
    with pytest.raises(ValueError, match="key"):
        tm.add("", 1.0, "test-record", {})
    with pytest.raises(ValueError, match="finite"):
        tm.add("a", float("nan"), "test-record", {})
    with pytest.raises(ValueError, match="already has a handler"):
        timers.register_handler("test-record", _repeat)
    assert len(tm) == 0 and tm.take() == ([], [])


def test_changes_to_write() -> None:
    tm = Timers()
    tm.add("a", 1.0, "test-record", {"x": 1})
    tm.add("b", 2.0, "test-record", {})
    tm.cancel("b")
    upserts, deletes = tm.take()
    assert upserts == [{"key": "a", "due": 1.0, "kind": "test-record", "payload": {"x": 1}}]
    assert deletes == ["b"]
    assert tm.take() == ([], [])
    assert tm.pop_due(5.0) is not None
    assert tm.take() == ([], ["a"])


def test_load_restores_order() -> None:
    tm = Timers()
    rows = [
        {"key": "late", "due": 30.0, "kind": "test-record", "payload": {}},
        {"key": "early", "due": 10.0, "kind": "test-record", "payload": {"a": 1}},
    ]
    tm.load(rows)
    assert [t.key for t in tm.all()] == ["early", "late"]
    assert tm.take() == ([], [])  # loading writes nothing


def test_fire_due_runs_handlers_in_order_and_only_due_ones() -> None:
    st = _State(now=100.0)
    st.timers.add("b", 50.0, "test-record", {})
    st.timers.add("a", 40.0, "test-record", {})
    st.timers.add("future", 100.5, "test-record", {})
    assert fire_due(st) == 2
    assert [k for k, _ in st.fired] == ["a", "b"]
    assert "future" in st.timers


def test_missed_repeat_fires_once_then_stays_on_its_grid() -> None:
    st = _State(now=1000.0)
    # anchored at 0, every 60 s: 16 periods were missed while "down"
    st.timers.add("r", 0.0, "test-repeat", {"anchor": 0.0, "every": 60.0})
    assert fire_due(st) == 1
    assert st.fired == [("r", 1000.0)]
    t = st.timers.get("r")
    assert t is not None and t.due == 1020.0  # on the grid, not 1000 + 60
    st.now = 1020.0
    fire_due(st)
    t = st.timers.get("r")
    assert t is not None and t.due == 1080.0


def test_handler_failure_names_the_timer() -> None:
    st = _State(now=10.0)
    st.timers.add("bad", 1.0, "test-boom", {})
    with pytest.raises(timers.HandlerFailed) as info:
        fire_due(st)
    assert info.value.timer.key == "bad"
    assert isinstance(info.value.cause, RuntimeError)


@pytest.mark.parametrize(
    ("anchor", "every", "after", "expected"),
    [
        (100.0, 10.0, 50.0, 100.0),  # before the anchor: the anchor
        (100.0, 10.0, 100.0, 110.0),  # strictly after
        (100.0, 10.0, 105.0, 110.0),
        (100.0, 10.0, 10_000.0, 10_010.0),
    ],
)
def test_next_on_grid(anchor: float, every: float, after: float, expected: float) -> None:
    got = next_on_grid(anchor, every, after)
    assert got > after
    assert got == pytest.approx(expected)


def test_next_on_grid_is_the_next_grid_point_despite_rounding() -> None:
    rnd = random.Random(3)
    for _ in range(2000):
        anchor, every = rnd.uniform(0, 1e9), rnd.choice([0.1, 0.3, 1.0, 7.0, 3600.0])
        after = anchor + rnd.uniform(0, 1e6)
        got = next_on_grid(anchor, every, after)
        assert after < got <= after + every * (1 + 1e-9)
        k = round((got - anchor) / every)
        assert got == pytest.approx(anchor + k * every, rel=0, abs=1e-6)


def test_next_on_grid_refuses_bad_periods() -> None:
    with pytest.raises(ValueError):
        next_on_grid(0.0, 0.0, 1.0)
