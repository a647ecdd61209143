"""The timer core in the real engine, on both stores: order, never early, restart, missed."""

from __future__ import annotations

import itertools
import time
from typing import Any

import sqlalchemy as sa
from helpers_engine import Farm, wait_until

from triggerfish.engine import timers
from triggerfish.engine.timers import Timer, next_on_grid
from triggerfish.store import tables as t

KIND = "itest"
REPEAT = "itest-repeat"


def _fire(state: Any, timer: Timer) -> None:
    # what the handler changes is committed with the timer's removal
    state.emit("tick", "itest", data={"key": timer.key, "due": timer.due, "now": state.now})


def _fire_repeat(state: Any, timer: Timer) -> None:
    _fire(state, timer)
    p = timer.payload
    nxt = next_on_grid(p["anchor"], p["every"], state.now)
    state.timers.add(timer.key, nxt, timer.kind, p)


timers.register_handler(KIND, _fire)
timers.register_handler(REPEAT, _fire_repeat)


def _add(farm: Farm, key: str, due: float, kind: str = KIND, **payload: Any) -> None:
    def add(st: Any) -> None:
        st.timers.add(key, due, kind, payload)

    farm.run(add)


def _ticks(farm: Farm) -> list[dict[str, Any]]:
    return [e["data"] for e in farm.events() if e["type"] == "itest"]


def _stored(farm: Farm) -> dict[str, float]:
    with farm.db.connect() as conn:
        return {r.key: r.due for r in conn.execute(sa.select(t.timers))}


def test_timers_fire_in_due_order_never_early(db_url: str) -> None:
    farm = Farm(db_url)
    try:
        base = time.time() + 0.5
        order = [3, 0, 4, 1, 2]
        for i in order:
            _add(farm, f"t{i}", base + i * 0.1)
        assert set(_stored(farm)) == {f"t{i}" for i in order}  # durable before they fire
        assert wait_until(lambda: len(_ticks(farm)) == 5)
        ticks = _ticks(farm)
        assert [d["key"] for d in ticks] == [f"t{i}" for i in range(5)]
        assert all(d["now"] >= d["due"] for d in ticks)
        assert _stored(farm) == {}
    finally:
        farm.stop()


def test_cancel_and_replace(db_url: str) -> None:
    farm = Farm(db_url)
    try:
        now = time.time()
        _add(farm, "gone", now + 0.3)
        _add(farm, "moved", now + 0.3)
        _add(farm, "moved", now + 0.6, note="second")
        _add(farm, "marker", now + 0.9)

        def cancel(st: Any) -> bool:
            return bool(st.timers.cancel("gone"))

        assert farm.run(cancel) is True
        assert wait_until(lambda: len(_ticks(farm)) == 2)
        time.sleep(0.2)
        assert [d["key"] for d in _ticks(farm)] == ["moved", "marker"]
    finally:
        farm.stop()


def test_timers_survive_a_restart(db_url: str) -> None:
    farm = Farm(db_url)
    try:
        due = time.time() + 1.5
        _add(farm, "later", due, note="kept")
        farm.restart()
        assert _ticks(farm) == []
        assert wait_until(lambda: len(_ticks(farm)) == 1)
        tick = _ticks(farm)[0]
        assert tick["key"] == "later" and tick["now"] >= due
    finally:
        farm.stop()


def test_missed_timers_fire_once_at_restart(db_url: str) -> None:
    farm = Farm(db_url)
    try:
        now = time.time()
        _add(farm, "once", now + 0.5)
        _add(farm, "every", now + 0.5, REPEAT, anchor=now + 0.5, every=0.25)
        farm.stop()  # down across both due times and several periods of the repeat
        time.sleep(1.6)
        farm.start()
        assert wait_until(lambda: len(_ticks(farm)) >= 2)
        ticks = _ticks(farm)
        assert [d["key"] for d in ticks].count("once") == 1
        every = [d for d in ticks if d["key"] == "every"]
        # the missed periods made one firing (of the stored due time); any later firing is
        # of a grid time after that firing, never a catch-up of a missed period
        assert every[0]["due"] == now + 0.5
        for prev, nxt in itertools.pairwise(every):
            assert nxt["due"] > prev["now"]
            periods = (nxt["due"] - (now + 0.5)) / 0.25
            assert abs(periods - round(periods)) < 1e-6
        farm.stop()
        farm.start()
        time.sleep(0.3)
        assert [d["key"] for d in _ticks(farm)].count("once") == 1
    finally:
        farm.stop()
